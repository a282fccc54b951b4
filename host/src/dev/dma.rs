//! DMA memory: one mapping shared by the driver and the device.
//!
//! The region is one anonymous mapping with an IOVA base, as VFIO maps it
//! (`VFIO_IOMMU_MAP_DMA` of one range) and as the co-simulation's DMA model
//! addresses it. The driver carves rings and packet buffers out of it with a
//! first-fit allocator; the device reads and writes it by IOVA through
//! [`DmaRegion::read`] / [`DmaRegion::write`] (the simulator) or by bus
//! mastering (hardware).
//!
//! Memory model: the device writes this memory concurrently with the driver,
//! as real DMA does. So no Rust reference (`&[u8]`, `&mut [u8]`) ever points
//! into it; every access is a copy through raw pointers using atomic loads and
//! stores, which are defined under concurrent access and compile to plain
//! moves on x86-64 and AArch64. Stores are `Release` and loads `Acquire`, in
//! ascending address order, 8 bytes at a time where aligned: a device model
//! that writes a completion record after the frame data, with the phase in the
//! record's last 8 bytes, is seen by a driver that loads those last 8 bytes
//! first (see [`DmaBuf::load_u64`]) either not at all or completely. Records
//! (descriptors, completions) are written at their natural alignment, so both
//! sides access them with accesses of the same size.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use memmap2::{MmapOptions, MmapRaw};

use super::freelist::FreeList;
use super::error::DevError;

/// Allocation granularity and alignment: a cache line, so no two buffers share
/// a line the device and the CPU would fight over (and more than
/// [`nic_abi::DMA_ALIGN`] requires).
pub const DMA_BUF_ALIGN: usize = 64;

/// IOVA bases must be page-aligned, as an IOMMU maps pages.
const PAGE: u64 = 4096;

/// One DMA-able memory range: host mapping plus the IOVA the device uses for it.
pub struct DmaRegion {
    map: MmapRaw,
    size: usize,
    iova_base: u64,
    /// Free blocks by offset, coalesced, all multiples of [`DMA_BUF_ALIGN`].
    free: Mutex<FreeList>,
}

impl std::fmt::Debug for DmaRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaRegion")
            .field("iova_base", &format_args!("0x{:x}", self.iova_base))
            .field("size", &self.size)
            .field("free", &self.free_bytes())
            .finish()
    }
}

impl DmaRegion {
    /// Maps `size` bytes (rounded up to a page) that the device will see at `iova_base`.
    ///
    /// The backend decides the IOVA (VFIO: what it passes to `MAP_DMA`; the
    /// simulator: any base, so tests catch drivers that confuse IOVAs with
    /// host addresses).
    pub fn new(size: usize, iova_base: u64) -> Result<Arc<Self>, DevError> {
        if size == 0 {
            return Err(DevError::DmaSetup("region size is zero".into()));
        }
        if iova_base % PAGE != 0 {
            return Err(DevError::DmaSetup(format!("IOVA base 0x{iova_base:x} is not page-aligned")));
        }
        let size = size
            .checked_next_multiple_of(PAGE as usize)
            .ok_or_else(|| DevError::DmaSetup(format!("region size {size} overflows")))?;
        if iova_base.checked_add(size as u64).is_none() {
            return Err(DevError::DmaSetup(format!("IOVA range 0x{iova_base:x}+{size} overflows")));
        }
        let map = MmapOptions::new()
            .len(size)
            .map_anon()
            .map_err(|e| DevError::DmaSetup(format!("anonymous mmap of {size} bytes: {e}")))?;
        let free = Mutex::new(FreeList::new(0, size as u64));
        Ok(Arc::new(DmaRegion { map: MmapRaw::from(map), size, iova_base, free }))
    }

    /// The IOVA of the region's first byte.
    pub fn iova_base(&self) -> u64 {
        self.iova_base
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Host address of the mapping, for a backend that must hand it to the IOMMU (VFIO `MAP_DMA`).
    ///
    /// Never dereference it as a slice: the device writes this memory.
    pub fn host_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Bytes not allocated, so tests can prove buffers come back.
    pub fn free_bytes(&self) -> usize {
        self.lock_free().total() as usize
    }

    /// Region offset of `[iova, iova + len)`, or `None` when any of it lies outside.
    fn offset_of(&self, iova: u64, len: usize) -> Option<usize> {
        let off = iova.checked_sub(self.iova_base)?;
        let end = off.checked_add(len as u64)?;
        (end <= self.size as u64).then_some(off as usize)
    }

    /// Device side: copies `buf.len()` bytes at `iova` into `buf`; `false` (nothing copied) when outside.
    ///
    /// For device models (the simulator's AXI master), which must answer an
    /// out-of-range DMA with an error response rather than touch other memory.
    #[must_use]
    pub fn read(&self, iova: u64, buf: &mut [u8]) -> bool {
        match self.offset_of(iova, buf.len()) {
            Some(off) => {
                // SAFETY: [off, off + len) lies inside the mapping (checked above),
                // which lives as long as `self`.
                unsafe { copy_out(self.map.as_ptr().add(off), buf) };
                true
            }
            None => false,
        }
    }

    /// Device side: copies `data` to `iova`; `false` (nothing written) when outside.
    #[must_use]
    pub fn write(&self, iova: u64, data: &[u8]) -> bool {
        match self.offset_of(iova, data.len()) {
            Some(off) => {
                // SAFETY: [off, off + len) lies inside the mapping (checked above).
                unsafe { copy_in(self.map.as_mut_ptr().add(off), data) };
                true
            }
            None => false,
        }
    }

    /// Allocates `len` bytes (first fit, [`DMA_BUF_ALIGN`]-aligned, contents unspecified);
    /// the buffer returns to the region when dropped.
    pub fn alloc(self: &Arc<Self>, len: usize) -> Result<DmaBuf, DevError> {
        let cap = len.max(1).checked_next_multiple_of(DMA_BUF_ALIGN).ok_or(DevError::DmaExhausted {
            requested: len,
            largest_free: 0,
        })?;
        let off = self
            .lock_free()
            .take(cap as u64)
            .map_err(|largest| DevError::DmaExhausted { requested: len, largest_free: largest as usize })?
            as usize;
        Ok(DmaBuf { region: Arc::clone(self), off, len, cap })
    }

    fn release(&self, off: usize, cap: usize) {
        self.lock_free().give(off as u64, cap as u64);
    }

    fn lock_free(&self) -> std::sync::MutexGuard<'_, FreeList> {
        // A panic elsewhere while holding the lock leaves the map consistent
        // (every update is a few map operations), so keep going.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A buffer in a [`DmaRegion`]; owned by the driver, visible to the device at [`DmaBuf::iova`].
///
/// Dropping it returns the memory to the region (ixy's `Mempool`). The driver
/// must not drop a buffer the device may still write: it keeps every posted
/// buffer until the device has completed it or has been reset.
pub struct DmaBuf {
    region: Arc<DmaRegion>,
    off: usize,
    len: usize,
    cap: usize,
}

impl std::fmt::Debug for DmaBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DmaBuf {{ iova: 0x{:x}, len: {} }}", self.iova(), self.len)
    }
}

impl DmaBuf {
    /// The address the device uses for the first byte.
    pub fn iova(&self) -> u64 {
        self.region.iova_base + self.off as u64
    }

    /// Usable length in bytes (what was asked for).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no usable bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region this buffer belongs to.
    pub fn region(&self) -> &Arc<DmaRegion> {
        &self.region
    }

    fn check(&self, off: usize, len: usize) -> Result<*mut u8, DevError> {
        match off.checked_add(len) {
            Some(end) if end <= self.len => {
                // SAFETY: self.off + end <= self.off + self.len <= region size, so
                // the pointer stays inside the mapping.
                Ok(unsafe { self.region.map.as_mut_ptr().add(self.off + off) })
            }
            _ => Err(DevError::DmaRange { at: off as u64, len, size: self.len }),
        }
    }

    /// Copies bytes out of the buffer (the device may be writing it: the copy is
    /// a snapshot, which is why validation happens on the copy).
    pub fn read_at(&self, off: usize, dst: &mut [u8]) -> Result<(), DevError> {
        let p = self.check(off, dst.len())?;
        // SAFETY: `p..p+len` is inside this buffer (checked), which is inside the mapping.
        unsafe { copy_out(p, dst) };
        Ok(())
    }

    /// Copies bytes into the buffer, in ascending order with release stores.
    pub fn write_at(&self, off: usize, src: &[u8]) -> Result<(), DevError> {
        let p = self.check(off, src.len())?;
        // SAFETY: `p..p+len` is inside this buffer (checked), which is inside the mapping.
        unsafe { copy_in(p, src) };
        Ok(())
    }

    /// Zeroes the whole buffer (completion queues start zeroed so no slot carries a valid phase).
    pub fn zero(&self) {
        let zeros = [0u8; 256];
        let mut off = 0;
        while off < self.len {
            let n = (self.len - off).min(zeros.len());
            // Cannot fail: off + n <= len.
            let _ = self.write_at(off, &zeros[..n]);
            off += n;
        }
    }

    /// Loads 8 bytes at an 8-aligned offset with `Acquire`: loading a record's
    /// last word (the one holding the phase) first makes every earlier device
    /// store (the rest of the record, the frame data) visible to later loads.
    pub fn load_u64(&self, off: usize) -> Result<u64, DevError> {
        let p = self.check(off, 8)?;
        if p as usize % 8 != 0 {
            return Err(DevError::DmaRange { at: off as u64, len: 8, size: self.len });
        }
        // SAFETY: in bounds and 8-aligned (checked); an atomic access is sound even
        // while the device stores to the same word.
        Ok(unsafe { AtomicU64::from_ptr(p as *mut u64) }.load(Ordering::Acquire))
    }

    /// Stores 8 bytes at an 8-aligned offset with `Release` (native byte order: pass `u64::from_ne_bytes` of the record bytes, so memory holds those bytes).
    pub fn store_u64(&self, off: usize, v: u64) -> Result<(), DevError> {
        let p = self.check(off, 8)?;
        if p as usize % 8 != 0 {
            return Err(DevError::DmaRange { at: off as u64, len: 8, size: self.len });
        }
        // SAFETY: in bounds and 8-aligned (checked).
        unsafe { AtomicU64::from_ptr(p as *mut u64) }.store(v, Ordering::Release);
        Ok(())
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        self.region.release(self.off, self.cap);
    }
}

// Backends keep the region in a `Send + Sync` device and hand buffers across threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<DmaRegion>();
    send_sync::<DmaBuf>();
};

/// Copies `dst.len()` bytes from device-visible memory at `src`.
///
/// # Safety
/// `src..src + dst.len()` must lie inside a live mapping.
unsafe fn copy_out(src: *const u8, dst: &mut [u8]) {
    let n = dst.len();
    let mut i = 0;
    while i < n && (src as usize + i) % 8 != 0 {
        // SAFETY: in bounds per the caller; u8 atomics need no alignment.
        dst[i] = unsafe { AtomicU8::from_ptr(src.add(i) as *mut u8) }.load(Ordering::Acquire);
        i += 1;
    }
    while i + 8 <= n {
        // SAFETY: in bounds per the caller and 8-aligned by the loop above.
        let w = unsafe { AtomicU64::from_ptr(src.add(i) as *mut u64) }.load(Ordering::Acquire);
        dst[i..i + 8].copy_from_slice(&w.to_ne_bytes());
        i += 8;
    }
    while i < n {
        // SAFETY: in bounds per the caller.
        dst[i] = unsafe { AtomicU8::from_ptr(src.add(i) as *mut u8) }.load(Ordering::Acquire);
        i += 1;
    }
}

/// Copies `src` into device-visible memory at `dst`, ascending, with release stores.
///
/// # Safety
/// `dst..dst + src.len()` must lie inside a live mapping.
unsafe fn copy_in(dst: *mut u8, src: &[u8]) {
    let n = src.len();
    let mut i = 0;
    while i < n && (dst as usize + i) % 8 != 0 {
        // SAFETY: in bounds per the caller.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Ordering::Release);
        i += 1;
    }
    while i + 8 <= n {
        let mut w = [0u8; 8];
        w.copy_from_slice(&src[i..i + 8]);
        // SAFETY: in bounds per the caller and 8-aligned by the loop above.
        unsafe { AtomicU64::from_ptr(dst.add(i) as *mut u64) }.store(u64::from_ne_bytes(w), Ordering::Release);
        i += 8;
    }
    while i < n {
        // SAFETY: in bounds per the caller.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Ordering::Release);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_is_aligned_first_fit_and_returns_on_drop() {
        let r = DmaRegion::new(8192, 0x1_0000_0000).unwrap();
        let total = r.free_bytes();
        let a = r.alloc(100).unwrap();
        let b = r.alloc(1).unwrap();
        assert_eq!(a.iova(), 0x1_0000_0000);
        assert_eq!(b.iova() % DMA_BUF_ALIGN as u64, 0);
        assert_eq!(b.iova(), a.iova() + 128);
        drop(a);
        // First fit: the hole left by `a` is reused.
        let c = r.alloc(64).unwrap();
        assert_eq!(c.iova(), 0x1_0000_0000);
        drop(b);
        drop(c);
        assert_eq!(r.free_bytes(), total);
        // Coalesced back into one block: the whole region fits again.
        let d = r.alloc(total).unwrap();
        assert!(matches!(r.alloc(1), Err(DevError::DmaExhausted { largest_free: 0, .. })));
        drop(d);
    }

    #[test]
    fn device_side_access_is_bounds_checked() {
        let r = DmaRegion::new(4096, 0x2000).unwrap();
        let buf = r.alloc(32).unwrap();
        assert!(r.write(buf.iova() + 3, b"hello"));
        let mut out = [0u8; 5];
        buf.read_at(3, &mut out).unwrap();
        assert_eq!(&out, b"hello");
        assert!(!r.write(0x1fff, b"x"), "below the base");
        assert!(!r.write(0x2000 + 4096 - 2, b"abc"), "straddles the end");
        assert!(!r.read(u64::MAX - 1, &mut out), "overflowing address");
        assert!(buf.write_at(30, b"abc").is_err());
        assert!(buf.load_u64(3).is_err(), "unaligned record access");
        assert!(DmaRegion::new(4096, 0x123).is_err());
    }

    #[test]
    fn word_and_byte_copies_agree() {
        let r = DmaRegion::new(4096, 0).unwrap();
        let buf = r.alloc(64).unwrap();
        let data: Vec<u8> = (0..61u8).collect();
        for start in 0..3 {
            buf.zero();
            buf.write_at(start, &data).unwrap();
            let mut back = vec![0u8; 61];
            assert!(r.read(buf.iova() + start as u64, &mut back));
            assert_eq!(back, data);
        }
        buf.store_u64(8, u64::from_ne_bytes(*b"ABCDEFGH")).unwrap();
        let mut w = [0u8; 8];
        buf.read_at(8, &mut w).unwrap();
        assert_eq!(&w, b"ABCDEFGH");
    }
}
