//! The VFIO backend: the same driver, talking to a PCIe function through the
//! Linux IOMMU instead of to the Verilator model.
//!
//! Open sequence (`Documentation/driver-api/vfio.rst`), each step with the
//! error a user can act on:
//!
//! ```text
//! sysfs      device exists? in an IOMMU group? bound to vfio-pci?
//! container  /dev/vfio/vfio, API version, Type1 IOMMU extension
//! group      /dev/vfio/N, viable (every member bound to vfio-pci or unbound)
//! iommu      GROUP_SET_CONTAINER, SET_IOMMU(Type1v2 | Type1)
//! device     GROUP_GET_DEVICE_FD, reset (if offered), BAR0 mmap (pread/pwrite
//!            if not mmappable), config space: memory decode + Bus Master Enable
//! dma        IOVA allocator over [iova_base, iova_limit); every region MAP_DMA'd
//!            on creation and UNMAP_DMA'd when its [`VfioDma`] is dropped
//! irq        MSI-X, else MSI, vector 0 -> eventfd; no vectors: polling
//! ```
//!
//! The device's DMA memory (what [`Device::dma`] returns and the driver carves
//! rings and buffers from) is one such mapping. Further mappings come from
//! [`VfioDevice::map_dma`], each with its own IOVA range.

mod sys;
pub mod sysfs;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

use super::freelist::FreeList;
use super::{DevError, Device, DmaRegion};
pub use sysfs::{parse_bdf, GroupMember, Sysfs};

/// IOMMU page: IOVAs and sizes of mappings are multiples of it.
const PAGE: u64 = 4096;
/// PCI config space: the command register and its bits.
const PCI_COMMAND: u64 = 0x04;
const PCI_COMMAND_MEMORY: u16 = 1 << 1;
const PCI_COMMAND_MASTER: u16 = 1 << 2;

/// How to open a device: DMA memory, its IOVA window, interrupts, reset.
#[derive(Clone, Debug)]
pub struct VfioOptions {
    /// Size of the device's DMA region (rings and packet buffers).
    pub dma_bytes: usize,
    /// Lowest IOVA handed out (page-aligned, non-zero so a zero address faults).
    pub iova_base: u64,
    /// One past the highest IOVA handed out: the device's DMA address limit.
    pub iova_limit: u64,
    /// Route vector 0 to an eventfd (else the driver polls).
    pub irq: bool,
    /// Reset the function on open when the device offers a reset.
    pub reset: bool,
    /// Map BAR0 when VFIO allows it; `false` uses pread/pwrite on the device, the path taken
    /// anyway where the BAR cannot be mapped (sub-page BARs on some platforms).
    pub bar_mmap: bool,
    /// Where sysfs is (normally `/sys`).
    pub sysfs: Sysfs,
}

impl Default for VfioOptions {
    fn default() -> Self {
        VfioOptions {
            // The simulator's default: 64-entry rings of jumbo buffers both ways.
            dma_bytes: 8 << 20,
            iova_base: 1 << 20,
            // 4 GiB: a 32-bit window works for every device; the NIC takes 64-bit IOVAs.
            iova_limit: 1 << 32,
            irq: true,
            reset: true,
            bar_mmap: true,
            sysfs: Sysfs::default(),
        }
    }
}

/// Why opening or using a VFIO device failed; `Display` says what to do.
#[derive(Debug)]
pub enum VfioError {
    /// The address is not a PCI address.
    BadAddress(String),
    /// No such PCI function.
    NoDevice(String),
    /// The function has no IOMMU group: the IOMMU is off.
    NoIommu(String),
    /// `/dev/vfio/vfio` is missing: the VFIO modules are not loaded.
    NoVfio,
    /// The function is bound to another driver (or none).
    WrongDriver {
        /// PCI address.
        bdf: String,
        /// The driver that has it.
        driver: Option<String>,
        /// Commands that hand it to vfio-pci.
        commands: Vec<String>,
    },
    /// Another device of the group is bound to a host driver.
    GroupNotViable {
        /// Group number.
        group: u32,
        /// The members that block it.
        blocking: Vec<GroupMember>,
    },
    /// No permission on a VFIO device node.
    Permission(String),
    /// The group is open elsewhere (another process owns the device).
    Busy(String),
    /// An ioctl or access failed; `what` names the step.
    Os {
        /// The step that failed.
        what: String,
        /// The errno.
        err: io::Error,
        /// What to try.
        hint: &'static str,
    },
    /// The device lacks something (BAR0, config space) or reports nonsense.
    Device(String),
    /// The IOVA window has no free range that large.
    IovaExhausted {
        /// Bytes asked.
        requested: u64,
        /// Largest free range.
        largest_free: u64,
    },
    /// DMA memory could not be created.
    Dma(DevError),
}

impl fmt::Display for VfioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VfioError::BadAddress(s) => {
                write!(f, "{s:?} is not a PCI address; give it as DDDD:BB:DD.F or BB:DD.F (see lspci -D)")
            }
            VfioError::NoDevice(b) => write!(f, "no PCI device {b} in /sys/bus/pci/devices; list them with lspci -D"),
            VfioError::NoIommu(b) => write!(
                f,
                "{b} has no IOMMU group: the IOMMU is off. Enable VT-d/AMD-Vi in the firmware and boot with \
                 intel_iommu=on (or amd_iommu=on); check with ls /sys/kernel/iommu_groups"
            ),
            VfioError::NoVfio => {
                write!(f, "/dev/vfio/vfio is missing: the VFIO modules are not loaded; run modprobe vfio-pci")
            }
            VfioError::WrongDriver { bdf, driver, commands } => {
                match driver {
                    Some(d) => write!(f, "{bdf} is bound to driver {d}, not vfio-pci")?,
                    None => write!(f, "{bdf} is bound to no driver, not vfio-pci")?,
                }
                write!(f, "; hand it to vfio-pci with:")?;
                for c in commands {
                    write!(f, "\n    {c}")?;
                }
                Ok(())
            }
            VfioError::GroupNotViable { group, blocking } => {
                write!(
                    f,
                    "IOMMU group {group} is not viable: every device in it must be bound to vfio-pci or unbound; \
                     these are not:"
                )?;
                for m in blocking {
                    write!(f, "\n    {} (driver {})", m.bdf, m.driver.as_deref().unwrap_or("none"))?;
                }
                write!(f, "\nunbind each (echo BDF > /sys/bus/pci/devices/BDF/driver/unbind) or bind it to vfio-pci")
            }
            VfioError::Permission(p) => write!(
                f,
                "permission denied on {p}: run as root, or give your user the node (chown $USER {p}, or a udev \
                 rule for the vfio group) and raise the locked-memory limit (ulimit -l) for DMA"
            ),
            VfioError::Busy(p) => write!(
                f,
                "{p} is busy: another process (a VM, another nicctl) has this IOMMU group open; stop it first"
            ),
            VfioError::Os { what, err, hint } => write!(f, "{what}: {err}; {hint}"),
            VfioError::Device(s) => write!(f, "{s}"),
            VfioError::IovaExhausted { requested, largest_free } => write!(
                f,
                "IOVA window exhausted: {requested} bytes asked, largest free range {largest_free}; \
                 unmap regions or widen the window (VfioOptions::iova_limit)"
            ),
            VfioError::Dma(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for VfioError {}

impl From<VfioError> for DevError {
    fn from(e: VfioError) -> Self {
        DevError::DmaSetup(e.to_string())
    }
}

fn os(what: impl Into<String>, hint: &'static str) -> impl FnOnce(io::Error) -> VfioError {
    let what = what.into();
    move |err| VfioError::Os { what, err, hint }
}

/// The container (IOMMU context) and the IOVA window it hands out.
struct Container {
    file: File,
    iova: Mutex<FreeList>,
}

impl Container {
    fn lock_iova(&self) -> std::sync::MutexGuard<'_, FreeList> {
        // The free list stays consistent across a panic elsewhere (each update is a few map operations).
        self.iova.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One DMA region mapped for the device: its IOVA range stays reserved and
/// mapped until this is dropped (or [`VfioDma::unmap`] is called).
///
/// The memory outlives the mapping when someone else still holds the region's
/// `Arc`: after unmapping, the device can no longer reach it (the IOMMU blocks
/// the access) while the host can still read it, which is how the QEMU test
/// proves that an unmapped buffer is safe.
pub struct VfioDma {
    region: Arc<DmaRegion>,
    container: Arc<Container>,
    mapped: bool,
}

impl fmt::Debug for VfioDma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VfioDma {{ iova: 0x{:x}, size: {}, mapped: {} }}",
            self.region.iova_base(),
            self.region.size(),
            self.mapped
        )
    }
}

impl VfioDma {
    /// The mapped memory (allocate buffers from it).
    pub fn region(&self) -> &Arc<DmaRegion> {
        &self.region
    }

    /// Removes the device's access now (UNMAP_DMA) and returns the IOVA range.
    pub fn unmap(&mut self) -> Result<(), VfioError> {
        if !self.mapped {
            return Ok(());
        }
        let (iova, size) = (self.region.iova_base(), self.region.size() as u64);
        let done = sys::unmap_dma(&self.container.file, iova, size)
            .map_err(os(format!("VFIO_IOMMU_UNMAP_DMA 0x{iova:x}+{size}"), "a kernel or driver bug; report it"))?;
        self.mapped = false;
        if done != size {
            // The range stays reserved: part of it may still be mapped.
            return Err(VfioError::Device(format!(
                "UNMAP_DMA of 0x{iova:x}+{size} unmapped {done} bytes; the IOVA range stays reserved"
            )));
        }
        self.container.lock_iova().give(iova, size);
        Ok(())
    }
}

impl Drop for VfioDma {
    fn drop(&mut self) {
        if let Err(e) = self.unmap() {
            log::warn!("{e}");
        }
    }
}

/// BAR0 access: a mapping when the region allows it, else pread/pwrite on the device fd.
enum Bar {
    Mapped(MmapRaw),
    Rw { offset: u64 },
}

/// How interrupts arrive.
struct Irq {
    eventfd: File,
    /// VFIO IRQ index (MSI or MSI-X).
    index: u32,
    kind: &'static str,
}

/// What happened to the function reset at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The device was reset.
    Done,
    /// The device offers no reset (or it was not asked for).
    NotOffered,
    /// The device offers a reset, but it failed (the error); the device was used as found.
    Failed(String),
}

/// A PCIe function opened through VFIO, as a [`Device`].
pub struct VfioDevice {
    bdf: String,
    ids: String,
    // Field order is drop order: stop interrupts and DMA before the descriptors close.
    irq: Option<Irq>,
    dma: VfioDma,
    bar: Bar,
    bar_size: u64,
    config_offset: u64,
    reset: ResetOutcome,
    device: File,
    _group: File,
    container: Arc<Container>,
}

impl fmt::Debug for VfioDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl VfioDevice {
    /// Opens PCI function `addr` ("0000:01:00.0" or "01:00.0") through VFIO with default options.
    pub fn open(addr: &str) -> Result<VfioDevice, VfioError> {
        VfioDevice::open_with(addr, VfioOptions::default())
    }

    /// Opens PCI function `addr` through VFIO (see the module doc for the steps).
    pub fn open_with(addr: &str, opts: VfioOptions) -> Result<VfioDevice, VfioError> {
        let bdf = parse_bdf(addr).ok_or_else(|| VfioError::BadAddress(addr.to_string()))?;
        if opts.iova_base % PAGE != 0 || opts.iova_base == 0 || opts.iova_limit <= opts.iova_base {
            return Err(VfioError::Device(format!(
                "IOVA window 0x{:x}..0x{:x} must be non-empty, page-aligned and start above zero",
                opts.iova_base, opts.iova_limit
            )));
        }
        let sysfs = &opts.sysfs;
        if !sysfs.exists(&bdf) {
            return Err(VfioError::NoDevice(bdf));
        }
        // The IOMMU first: without it vfio-pci cannot bind, and rebinding would not help.
        let group_no = sysfs.iommu_group(&bdf).ok_or_else(|| VfioError::NoIommu(bdf.clone()))?;
        let driver = sysfs.driver(&bdf);
        if driver.as_deref() != Some("vfio-pci") {
            let commands = sysfs.rebind_commands(&bdf, driver.as_deref());
            return Err(VfioError::WrongDriver { bdf, driver, commands });
        }
        let ids = sysfs.ids(&bdf).unwrap_or_else(|| "????:????".into());

        // Container.
        let container = open_node("/dev/vfio/vfio").map_err(|e| match e {
            VfioError::NoDevice(_) => VfioError::NoVfio,
            e => e,
        })?;
        let api = sys::api_version(&container).map_err(os("VFIO_GET_API_VERSION", "is /dev/vfio/vfio a VFIO node?"))?;
        if api != sys::VFIO_API_VERSION as i32 {
            return Err(VfioError::Device(format!(
                "kernel VFIO API version {api}, this backend speaks {}",
                sys::VFIO_API_VERSION
            )));
        }
        let model = [sys::VFIO_TYPE1v2_IOMMU, sys::VFIO_TYPE1_IOMMU]
            .into_iter()
            .find(|&m| sys::check_extension(&container, m).unwrap_or(false))
            .ok_or_else(|| {
                VfioError::Device("the kernel offers no Type1 IOMMU for VFIO: modprobe vfio_iommu_type1".into())
            })?;

        // Group: viable only when every member is bound to vfio-pci or unbound.
        let group_path = format!("/dev/vfio/{group_no}");
        let group = open_node(&group_path)?;
        let flags = sys::group_flags(&group).map_err(os("VFIO_GROUP_GET_STATUS", "is this a VFIO group node?"))?;
        if flags & sys::VFIO_GROUP_FLAGS_VIABLE == 0 {
            let blocking = sysfs.group_members(group_no).into_iter().filter(|m| !m.is_vfio_safe()).collect();
            return Err(VfioError::GroupNotViable { group: group_no, blocking });
        }
        sys::group_set_container(&group, &container)
            .map_err(os("VFIO_GROUP_SET_CONTAINER", "is the group already in another container?"))?;
        sys::set_iommu(&container, model).map_err(|err| VfioError::Os {
            what: "VFIO_SET_IOMMU".into(),
            hint: if err.raw_os_error() == Some(libc::EPERM) {
                "the platform has no interrupt remapping: boot with intel_iommu=on and interrupt remapping on \
                 (or, at your own risk, echo 1 > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts)"
            } else {
                "check dmesg for the IOMMU driver's message"
            },
            err,
        })?;
        let container = Arc::new(Container {
            file: container,
            iova: Mutex::new(FreeList::new(opts.iova_base, opts.iova_limit - opts.iova_base)),
        });

        // Device.
        let device = sys::group_device_fd(&group, &bdf).map_err(os(
            format!("VFIO_GROUP_GET_DEVICE_FD {bdf}"),
            "is the device in this group and not open elsewhere?",
        ))?;
        let (dflags, nregions, _nirqs) =
            sys::device_info(&device).map_err(os("VFIO_DEVICE_GET_INFO", "check dmesg for vfio-pci's message"))?;
        if dflags & sys::VFIO_DEVICE_FLAGS_PCI == 0 || nregions <= sys::VFIO_PCI_CONFIG_REGION_INDEX {
            return Err(VfioError::Device(format!("{bdf}: VFIO reports no PCI regions (flags 0x{dflags:x})")));
        }
        let reset = if !opts.reset || dflags & sys::VFIO_DEVICE_FLAGS_RESET == 0 {
            ResetOutcome::NotOffered
        } else {
            match sys::device_reset(&device) {
                Ok(()) => ResetOutcome::Done,
                Err(e) => {
                    log::warn!("vfio {bdf}: reset failed ({e}); using the device as found");
                    ResetOutcome::Failed(e.to_string())
                }
            }
        };

        // BAR0.
        let r = sys::region_info(&device, sys::VFIO_PCI_BAR0_REGION_INDEX)
            .map_err(os("VFIO_DEVICE_GET_REGION_INFO BAR0", "check dmesg for vfio-pci's message"))?;
        let rw = sys::VFIO_REGION_INFO_FLAG_READ | sys::VFIO_REGION_INFO_FLAG_WRITE;
        if r.size < 4 || r.flags & rw != rw {
            return Err(VfioError::Device(format!(
                "{bdf}: BAR0 is {} bytes with flags 0x{:x}; the NIC needs a readable, writable memory BAR",
                r.size, r.flags
            )));
        }
        let bar = if opts.bar_mmap && r.flags & sys::VFIO_REGION_INFO_FLAG_MMAP != 0 {
            let len = usize::try_from(r.size).map_err(|_| VfioError::Device(format!("BAR0 of {} bytes", r.size)))?;
            let map = MmapOptions::new()
                .offset(r.offset)
                .len(len)
                .map_raw(&device)
                .map_err(os("mmap of BAR0", "check dmesg; is the BAR sized and enabled?"))?;
            Bar::Mapped(map)
        } else {
            Bar::Rw { offset: r.offset }
        };

        // Config space: memory decode and Bus Master Enable, so MMIO answers and DMA flows.
        let cfg = sys::region_info(&device, sys::VFIO_PCI_CONFIG_REGION_INDEX)
            .map_err(os("VFIO_DEVICE_GET_REGION_INFO config", "check dmesg for vfio-pci's message"))?;
        let mut cmd = [0u8; 2];
        sys::pread_exact(&device, cfg.offset + PCI_COMMAND, &mut cmd)
            .map_err(os("reading the PCI command register", "check dmesg for vfio-pci's message"))?;
        let cmd = u16::from_le_bytes(cmd) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
        sys::pwrite_all(&device, cfg.offset + PCI_COMMAND, &cmd.to_le_bytes())
            .map_err(os("setting Bus Master Enable", "check dmesg for vfio-pci's message"))?;

        // The device's DMA region.
        let dma = map_region(&container, opts.dma_bytes)?;

        // Interrupts: MSI-X, else MSI; neither: the driver polls.
        let irq = if opts.irq { setup_irq(&device)? } else { None };

        let dev = VfioDevice {
            bdf,
            ids,
            irq,
            dma,
            bar,
            bar_size: r.size,
            config_offset: cfg.offset,
            reset,
            device,
            _group: group,
            container,
        };
        log::info!("{}: open, {} interrupts, reset {:?}", dev.describe(), dev.irq_kind(), dev.reset);
        Ok(dev)
    }

    /// Maps a new DMA region of `size` bytes (rounded to pages) at the next free IOVA.
    ///
    /// For buffers beyond the device's main region; dropping the result unmaps it.
    pub fn map_dma(&self, size: usize) -> Result<VfioDma, VfioError> {
        map_region(&self.container, size)
    }

    /// The PCI address.
    pub fn bdf(&self) -> &str {
        &self.bdf
    }

    /// `vendor:device`, e.g. "1234:11e8".
    pub fn pci_ids(&self) -> &str {
        &self.ids
    }

    /// Whether BAR0 is mapped (`false`: every register access is a pread/pwrite).
    pub fn bar0_mapped(&self) -> bool {
        matches!(self.bar, Bar::Mapped(_))
    }

    /// "MSI-X", "MSI" or "none (polling)".
    pub fn irq_kind(&self) -> &'static str {
        self.irq.as_ref().map_or("none (polling)", |i| i.kind)
    }

    /// What the reset at open did.
    pub fn reset_outcome(&self) -> &ResetOutcome {
        &self.reset
    }

    /// BAR0's size in bytes.
    pub fn bar0_size(&self) -> u64 {
        self.bar_size
    }

    /// Reads a 16-bit word of PCI config space (e.g. 0x04, the command register).
    pub fn config_read16(&self, off: u64) -> Result<u16, VfioError> {
        let mut b = [0u8; 2];
        sys::pread_exact(&self.device, self.config_offset + off, &mut b)
            .map_err(os(format!("reading config space at 0x{off:x}"), "check dmesg for vfio-pci's message"))?;
        Ok(u16::from_le_bytes(b))
    }

    /// The IOMMU's view: whether Bus Master Enable is set (DMA allowed by the function).
    pub fn bus_master(&self) -> Result<bool, VfioError> {
        Ok(self.config_read16(PCI_COMMAND)? & PCI_COMMAND_MASTER != 0)
    }

    fn check_reg(&self, off: u32) -> Result<(), DevError> {
        if off % 4 != 0 || u64::from(off) + 4 > self.bar_size {
            return Err(DevError::Bus { off, detail: format!("outside BAR0 of {} bytes or unaligned", self.bar_size) });
        }
        Ok(())
    }
}

impl Drop for VfioDevice {
    fn drop(&mut self) {
        if let Some(irq) = &self.irq {
            if let Err(e) = sys::set_irq_eventfd(&self.device, irq.index, None) {
                log::warn!("vfio {}: disabling interrupts: {e}", self.bdf);
            }
        }
        // Stop DMA before the mappings go (VfioDma's drop unmaps them).
        if let Ok(cmd) = self.config_read16(PCI_COMMAND) {
            let _ = sys::pwrite_all(
                &self.device,
                self.config_offset + PCI_COMMAND,
                &(cmd & !PCI_COMMAND_MASTER).to_le_bytes(),
            );
        }
    }
}

impl Device for VfioDevice {
    fn describe(&self) -> String {
        format!("vfio {} [{}]", self.bdf, self.ids)
    }

    fn read32(&self, off: u32) -> Result<u32, DevError> {
        self.check_reg(off)?;
        match &self.bar {
            Bar::Mapped(m) => {
                // SAFETY: off + 4 <= BAR size (checked) and 4-aligned; the mapping lives
                // as long as `self`. MMIO needs one volatile 32-bit load, never a reference.
                Ok(unsafe { std::ptr::read_volatile(m.as_ptr().add(off as usize) as *const u32) })
            }
            Bar::Rw { offset } => {
                let mut b = [0u8; 4];
                sys::pread_exact(&self.device, offset + u64::from(off), &mut b)
                    .map_err(|e| DevError::Bus { off, detail: format!("VFIO region read: {e}") })?;
                Ok(u32::from_le_bytes(b))
            }
        }
    }

    fn write32(&self, off: u32, val: u32) -> Result<(), DevError> {
        self.check_reg(off)?;
        match &self.bar {
            Bar::Mapped(m) => {
                // SAFETY: as in read32: in bounds, aligned, mapping alive; one volatile store.
                unsafe { std::ptr::write_volatile(m.as_mut_ptr().add(off as usize) as *mut u32, val) };
                Ok(())
            }
            Bar::Rw { offset } => sys::pwrite_all(&self.device, offset + u64::from(off), &val.to_le_bytes())
                .map_err(|e| DevError::Bus { off, detail: format!("VFIO region write: {e}") }),
        }
    }

    fn dma(&self) -> &Arc<DmaRegion> {
        self.dma.region()
    }

    fn wait_irq(&self, timeout: Duration) -> Result<bool, DevError> {
        let Some(irq) = &self.irq else {
            return Err(DevError::NoInterrupts);
        };
        let gone = |e: io::Error| DevError::Gone(format!("vfio {} interrupt eventfd: {e}", self.bdf));
        // An interrupt that already fired is taken without waiting.
        if sys::eventfd_take(&irq.eventfd).map_err(gone)? > 0 {
            return Ok(true);
        }
        if timeout.is_zero() {
            return Ok(false);
        }
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        if !sys::poll_readable(&irq.eventfd, ms).map_err(gone)? {
            return Ok(false);
        }
        Ok(sys::eventfd_take(&irq.eventfd).map_err(gone)? > 0)
    }

    /// One vector: vector 0 of MSI-X or MSI goes to one eventfd, which every queue shares (the
    /// driver wakes each queue's waiter from it). An eventfd per MSI-X vector is future work.
    fn irq_vectors(&self) -> u32 {
        1
    }
}

/// Opens a VFIO node, turning errno into the message for it.
fn open_node(path: &str) -> Result<File, VfioError> {
    OpenOptions::new().read(true).write(true).open(path).map_err(|err| match err.raw_os_error() {
        Some(libc::ENOENT) => VfioError::NoDevice(path.to_string()),
        Some(libc::EACCES) | Some(libc::EPERM) => VfioError::Permission(path.to_string()),
        Some(libc::EBUSY) => VfioError::Busy(path.to_string()),
        _ => VfioError::Os { what: format!("opening {path}"), err, hint: "check dmesg for VFIO's message" },
    })
}

/// Allocates an IOVA range, creates the memory and maps it for the device.
fn map_region(container: &Arc<Container>, size: usize) -> Result<VfioDma, VfioError> {
    let len = (size.max(1) as u64)
        .checked_next_multiple_of(PAGE)
        .ok_or(VfioError::IovaExhausted { requested: size as u64, largest_free: 0 })?;
    let iova = container
        .lock_iova()
        .take(len)
        .map_err(|largest_free| VfioError::IovaExhausted { requested: len, largest_free })?;
    let give_back = |e| {
        container.lock_iova().give(iova, len);
        e
    };
    let region = DmaRegion::new(len as usize, iova).map_err(|e| give_back(VfioError::Dma(e)))?;
    sys::map_dma(&container.file, region.host_ptr() as u64, iova, len).map_err(|err| {
        give_back(VfioError::Os {
            what: format!("VFIO_IOMMU_MAP_DMA of {len} bytes at IOVA 0x{iova:x}"),
            hint: if err.raw_os_error() == Some(libc::ENOMEM) {
                "the locked-memory limit is too low for pinned DMA memory: raise it (ulimit -l) or run as root"
            } else {
                "the IOVA may be outside the IOMMU's aperture; check dmesg"
            },
            err,
        })
    })?;
    Ok(VfioDma { region, container: Arc::clone(container), mapped: true })
}

/// Routes vector 0 of MSI-X (else MSI) to an eventfd; `None` when the device has neither.
fn setup_irq(device: &File) -> Result<Option<Irq>, VfioError> {
    for (index, kind) in [(sys::VFIO_PCI_MSIX_IRQ_INDEX, "MSI-X"), (sys::VFIO_PCI_MSI_IRQ_INDEX, "MSI")] {
        if sys::irq_count(device, index).unwrap_or(0) == 0 {
            continue;
        }
        let eventfd = sys::eventfd().map_err(os("eventfd", "raise the open-files limit (ulimit -n)"))?;
        sys::set_irq_eventfd(device, index, Some(std::os::fd::AsRawFd::as_raw_fd(&eventfd)))
            .map_err(os(format!("VFIO_DEVICE_SET_IRQS ({kind})"), "check dmesg for vfio-pci's message"))?;
        return Ok(Some(Irq { eventfd, index, kind }));
    }
    Ok(None)
}
