//! A zeroed heap buffer aligned to a page ([`PAGE`] bytes): what `O_DIRECT` needs, and what the
//! kernel's copy into and out of user memory runs fastest on. Ordinary allocations of 128 KiB
//! and more come from `mmap` 16 bytes past a page start; on AMD EPYC hosts a 64 KiB `read` into
//! such a buffer cost 40 % more CPU than into an aligned one (docs/PERFORMANCE.md).

use std::alloc::{self, Layout};
use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Alignment of every [`PageBuf`] (bytes). 4096 also satisfies devices with 512-byte blocks.
pub(super) const PAGE: usize = 4096;

/// `len` zeroed bytes at a [`PAGE`]-aligned address; empty until [`PageBuf::zeroed`] or
/// [`PageBuf::grow`].
pub(super) struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a PageBuf owns its allocation alone, like a Box<[u8]>.
unsafe impl Send for PageBuf {}

impl PageBuf {
    /// An empty buffer (no allocation).
    pub(super) const fn empty() -> Self {
        PageBuf { ptr: NonNull::dangling(), len: 0 }
    }

    /// `len` zeroed bytes.
    pub(super) fn zeroed(len: usize) -> io::Result<Self> {
        if len == 0 {
            return Ok(Self::empty());
        }
        let layout = Layout::from_size_align(len, PAGE).map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        NonNull::new(raw)
            .map(|ptr| PageBuf { ptr, len })
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, format!("cannot allocate a {len}-byte buffer")))
    }

    /// Make the buffer at least `len` bytes long. Its contents are not kept: a larger buffer
    /// replaces it, zeroed.
    pub(super) fn grow(&mut self, len: usize) -> io::Result<()> {
        if len > self.len {
            *self = Self::zeroed(len)?;
        }
        Ok(())
    }
}

impl Default for PageBuf {
    fn default() -> Self {
        Self::empty()
    }
}

impl Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised (zeroed, then written) bytes owned by `self`
        // (or is dangling with `len` 0, which a slice allows).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; the `&mut self` borrow makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        if let Ok(layout) = Layout::from_size_align(self.len, PAGE) {
            // SAFETY: allocated in `zeroed` with this same layout, freed once.
            unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_grown_without_keeping_contents() {
        let mut b = PageBuf::default();
        assert!(b.is_empty());
        b.grow(100_000).unwrap();
        assert_eq!(b.len(), 100_000);
        assert_eq!(b.as_ptr() as usize % PAGE, 0);
        assert!(b.iter().all(|&x| x == 0));
        b[99_999] = 7;
        b.grow(50).unwrap();
        assert_eq!((b.len(), b[99_999]), (100_000, 7), "never shrinks");
        b.grow(300_001).unwrap();
        assert_eq!(b.len(), 300_001);
        assert_eq!(b.as_ptr() as usize % PAGE, 0);
        assert!(b.iter().all(|&x| x == 0));
    }
}
