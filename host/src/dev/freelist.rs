//! A first-fit free list of address ranges, coalesced on release.
//!
//! Shared by the two allocators of device-visible memory: [`super::DmaRegion`]
//! carves buffers out of one mapping, and the VFIO backend's IOVA allocator
//! carves IOVA ranges out of the device's address window. Both want the same
//! behaviour: the lowest block that fits, and freed blocks merged with their
//! neighbours so a region that is empty again is one block again.

use std::collections::BTreeMap;

/// Free ranges: start -> length, never overlapping, never adjacent (coalesced).
#[derive(Debug, Default)]
pub(crate) struct FreeList {
    free: BTreeMap<u64, u64>,
}

impl FreeList {
    /// A list holding one free range `[start, start + len)`.
    pub(crate) fn new(start: u64, len: u64) -> Self {
        let mut free = BTreeMap::new();
        if len > 0 {
            free.insert(start, len);
        }
        FreeList { free }
    }

    /// Takes `len` bytes from the lowest free range that holds them; `Err(largest free)` when none does.
    ///
    /// `len` must already be rounded to the caller's granularity; the start of
    /// every range stays a multiple of it as long as all lengths are.
    pub(crate) fn take(&mut self, len: u64) -> Result<u64, u64> {
        let Some((&start, &flen)) = self.free.iter().find(|(_, &l)| l >= len) else {
            return Err(self.largest());
        };
        self.free.remove(&start);
        if flen > len {
            self.free.insert(start + len, flen - len);
        }
        Ok(start)
    }

    /// Returns `[start, start + len)`, merging it with the free ranges before and after.
    pub(crate) fn give(&mut self, start: u64, len: u64) {
        let (mut s, mut l) = (start, len);
        if let Some((&ps, &pl)) = self.free.range(..start).next_back() {
            if ps + pl == start {
                self.free.remove(&ps);
                s = ps;
                l += pl;
            }
        }
        if let Some(nl) = self.free.remove(&(start + len)) {
            l += nl;
        }
        self.free.insert(s, l);
    }

    /// Total free bytes.
    pub(crate) fn total(&self) -> u64 {
        self.free.values().sum()
    }

    /// The largest free range's length (0 when full).
    pub(crate) fn largest(&self) -> u64 {
        self.free.values().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::FreeList;

    #[test]
    fn first_fit_and_coalescing() {
        let mut f = FreeList::new(0x1000, 0x4000);
        let a = f.take(0x1000).unwrap();
        let b = f.take(0x1000).unwrap();
        let c = f.take(0x1000).unwrap();
        assert_eq!((a, b, c), (0x1000, 0x2000, 0x3000));
        f.give(b, 0x1000);
        assert_eq!(f.take(0x2000), Err(0x1000), "hole and tail are not adjacent");
        f.give(a, 0x1000);
        f.give(c, 0x1000);
        assert_eq!(f.total(), 0x4000);
        assert_eq!(f.largest(), 0x4000, "everything merged back into one range");
        assert_eq!(f.take(0x4000), Ok(0x1000));
        assert_eq!(f.take(1), Err(0));
    }
}
