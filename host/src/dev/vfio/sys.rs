//! The VFIO ioctls, each a small function returning `io::Result` with the errno.
//!
//! Structs and constants come from `vfio-bindings` (generated from
//! `include/uapi/linux/vfio.h`); the request numbers are `_IO(';', 100 + n)`
//! as that header defines them (the bindings crate carries no ioctl numbers).
//! Every `unsafe` is an ioctl/pread/pwrite on a descriptor we own with a
//! pointer to a live, correctly sized `#[repr(C)]` struct.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::FileExt;

use vfio_bindings::bindings::vfio as b;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)`: no direction or size bits.
const fn vfio_io(n: u32) -> libc::c_ulong {
    (((b::VFIO_TYPE as u32) << 8) | (b::VFIO_BASE + n)) as libc::c_ulong
}

const GET_API_VERSION: libc::c_ulong = vfio_io(0);
const CHECK_EXTENSION: libc::c_ulong = vfio_io(1);
const SET_IOMMU: libc::c_ulong = vfio_io(2);
const GROUP_GET_STATUS: libc::c_ulong = vfio_io(3);
const GROUP_SET_CONTAINER: libc::c_ulong = vfio_io(4);
const GROUP_GET_DEVICE_FD: libc::c_ulong = vfio_io(6);
const DEVICE_GET_INFO: libc::c_ulong = vfio_io(7);
const DEVICE_GET_REGION_INFO: libc::c_ulong = vfio_io(8);
const DEVICE_GET_IRQ_INFO: libc::c_ulong = vfio_io(9);
const DEVICE_SET_IRQS: libc::c_ulong = vfio_io(10);
const DEVICE_RESET: libc::c_ulong = vfio_io(11);
const IOMMU_MAP_DMA: libc::c_ulong = vfio_io(13);
const IOMMU_UNMAP_DMA: libc::c_ulong = vfio_io(14);

pub(super) use b::{
    VFIO_TYPE1v2_IOMMU, VFIO_API_VERSION, VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, VFIO_GROUP_FLAGS_VIABLE,
    VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX,
    VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE, VFIO_TYPE1_IOMMU,
};

/// `ioctl(fd, req, arg)`, with -1 turned into the errno.
fn ioctl(fd: RawFd, req: libc::c_ulong, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: every caller passes either an integer argument or a pointer to a
    // live `#[repr(C)]` struct whose `argsz` covers what the kernel reads/writes.
    let r = unsafe { libc::ioctl(fd, req, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ioctl_ptr<T>(fd: RawFd, req: libc::c_ulong, arg: &mut T) -> io::Result<libc::c_int> {
    ioctl(fd, req, arg as *mut T as libc::c_ulong)
}

/// `argsz` of a struct, as the kernel wants it.
fn argsz<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// VFIO_GET_API_VERSION on the container.
pub(super) fn api_version(container: &File) -> io::Result<i32> {
    ioctl(container.as_raw_fd(), GET_API_VERSION, 0)
}

/// VFIO_CHECK_EXTENSION: whether the container supports IOMMU model `ext`.
pub(super) fn check_extension(container: &File, ext: u32) -> io::Result<bool> {
    ioctl(container.as_raw_fd(), CHECK_EXTENSION, ext as libc::c_ulong).map(|r| r > 0)
}

/// VFIO_SET_IOMMU: choose the container's IOMMU model (after a group joined it).
pub(super) fn set_iommu(container: &File, model: u32) -> io::Result<()> {
    ioctl(container.as_raw_fd(), SET_IOMMU, model as libc::c_ulong).map(drop)
}

/// VFIO_GROUP_GET_STATUS: the group's flags (viable, container set).
pub(super) fn group_flags(group: &File) -> io::Result<u32> {
    let mut st = b::vfio_group_status { argsz: argsz::<b::vfio_group_status>(), flags: 0 };
    ioctl_ptr(group.as_raw_fd(), GROUP_GET_STATUS, &mut st)?;
    Ok(st.flags)
}

/// VFIO_GROUP_SET_CONTAINER: put the group into the container.
pub(super) fn group_set_container(group: &File, container: &File) -> io::Result<()> {
    let mut fd: i32 = container.as_raw_fd();
    ioctl_ptr(group.as_raw_fd(), GROUP_SET_CONTAINER, &mut fd).map(drop)
}

/// VFIO_GROUP_GET_DEVICE_FD: a descriptor for the device named `bdf` in the group.
pub(super) fn group_device_fd(group: &File, bdf: &str) -> io::Result<File> {
    let name = std::ffi::CString::new(bdf).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fd = ioctl(group.as_raw_fd(), GROUP_GET_DEVICE_FD, name.as_ptr() as libc::c_ulong)?;
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// VFIO_DEVICE_GET_INFO: (flags, number of regions, number of IRQ indexes).
pub(super) fn device_info(dev: &File) -> io::Result<(u32, u32, u32)> {
    let mut i = b::vfio_device_info { argsz: argsz::<b::vfio_device_info>(), ..Default::default() };
    ioctl_ptr(dev.as_raw_fd(), DEVICE_GET_INFO, &mut i)?;
    Ok((i.flags, i.num_regions, i.num_irqs))
}

/// One region of the device (a BAR, config space): where it is in the device fd and what it allows.
#[derive(Clone, Copy, Debug)]
pub(super) struct Region {
    pub flags: u32,
    pub size: u64,
    pub offset: u64,
}

/// VFIO_DEVICE_GET_REGION_INFO for region `index`.
pub(super) fn region_info(dev: &File, index: u32) -> io::Result<Region> {
    let mut r = b::vfio_region_info { argsz: argsz::<b::vfio_region_info>(), index, ..Default::default() };
    ioctl_ptr(dev.as_raw_fd(), DEVICE_GET_REGION_INFO, &mut r)?;
    Ok(Region { flags: r.flags, size: r.size, offset: r.offset })
}

/// VFIO_DEVICE_GET_IRQ_INFO: how many vectors IRQ index `index` (MSI, MSI-X) has.
pub(super) fn irq_count(dev: &File, index: u32) -> io::Result<u32> {
    let mut i = b::vfio_irq_info { argsz: argsz::<b::vfio_irq_info>(), index, ..Default::default() };
    ioctl_ptr(dev.as_raw_fd(), DEVICE_GET_IRQ_INFO, &mut i)?;
    Ok(i.count)
}

/// `vfio_irq_set` with one eventfd as its data.
#[repr(C)]
struct IrqSetOne {
    hdr: b::vfio_irq_set,
    fd: i32,
}

/// VFIO_DEVICE_SET_IRQS: vector 0 of `index` signals `eventfd` (or, with `None`, is disabled).
pub(super) fn set_irq_eventfd(dev: &File, index: u32, eventfd: Option<RawFd>) -> io::Result<()> {
    let mut s = IrqSetOne {
        hdr: b::vfio_irq_set {
            argsz: argsz::<IrqSetOne>(),
            flags: b::VFIO_IRQ_SET_DATA_EVENTFD | b::VFIO_IRQ_SET_ACTION_TRIGGER,
            index,
            start: 0,
            count: 1,
            ..Default::default()
        },
        fd: eventfd.unwrap_or(-1),
    };
    if eventfd.is_none() {
        // DATA_NONE with count 0 disables every vector of the index.
        s.hdr.argsz = argsz::<b::vfio_irq_set>();
        s.hdr.flags = b::VFIO_IRQ_SET_DATA_NONE | b::VFIO_IRQ_SET_ACTION_TRIGGER;
        s.hdr.count = 0;
    }
    ioctl_ptr(dev.as_raw_fd(), DEVICE_SET_IRQS, &mut s).map(drop)
}

/// VFIO_DEVICE_RESET: a function-level (or equivalent) reset.
pub(super) fn device_reset(dev: &File) -> io::Result<()> {
    ioctl(dev.as_raw_fd(), DEVICE_RESET, 0).map(drop)
}

/// VFIO_IOMMU_MAP_DMA: the device may read and write `[vaddr, vaddr + size)` at `iova`.
pub(super) fn map_dma(container: &File, vaddr: u64, iova: u64, size: u64) -> io::Result<()> {
    let mut m = b::vfio_iommu_type1_dma_map {
        argsz: argsz::<b::vfio_iommu_type1_dma_map>(),
        flags: b::VFIO_DMA_MAP_FLAG_READ | b::VFIO_DMA_MAP_FLAG_WRITE,
        vaddr,
        iova,
        size,
    };
    ioctl_ptr(container.as_raw_fd(), IOMMU_MAP_DMA, &mut m).map(drop)
}

/// VFIO_IOMMU_UNMAP_DMA of `[iova, iova + size)`; returns how many bytes the kernel unmapped.
pub(super) fn unmap_dma(container: &File, iova: u64, size: u64) -> io::Result<u64> {
    let mut u = b::vfio_iommu_type1_dma_unmap {
        argsz: argsz::<b::vfio_iommu_type1_dma_unmap>(),
        iova,
        size,
        ..Default::default()
    };
    ioctl_ptr(container.as_raw_fd(), IOMMU_UNMAP_DMA, &mut u)?;
    Ok(u.size)
}

/// Reads exactly `buf.len()` bytes of the device fd at `off` (a region offset plus an offset in it).
pub(super) fn pread_exact(dev: &File, off: u64, buf: &mut [u8]) -> io::Result<()> {
    dev.read_exact_at(buf, off)
}

/// Writes all of `buf` to the device fd at `off`.
pub(super) fn pwrite_all(dev: &File, off: u64, buf: &[u8]) -> io::Result<()> {
    dev.write_all_at(buf, off)
}

/// An eventfd (non-blocking, close-on-exec) for interrupt delivery.
pub(super) fn eventfd() -> io::Result<File> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we alone own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Waits until `fd` is readable or `timeout_ms` passes; `true` when readable.
pub(super) fn poll_readable(fd: &File, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0 && p.revents & libc::POLLIN != 0);
    }
}

/// Reads (and so clears) an eventfd's counter; 0 when nothing was signalled.
pub(super) fn eventfd_take(fd: &File) -> io::Result<u64> {
    let mut v = [0u8; 8];
    match std::io::Read::read(&mut &*fd, &mut v) {
        Ok(8) => Ok(u64::from_ne_bytes(v)),
        Ok(_) => Ok(0),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}
