//! The `no_std` guest's allocator: dlmalloc, given first the free end of the initial
//! linear memory.
//!
//! Without std, wasi-libc's `malloc` is not linked, and dlmalloc's own wasm back end
//! grows memory for its first segment (on WASI it does not know `__heap_base`). Every
//! fresh instance would then pay a `memory.grow`, and the host a larger memory to reset:
//! measured, a fresh-instance call went from 28.9 to 36.8 µs. So the first request gets
//! what the linker left free between `__heap_base` and the end of the initial memory
//! (grown only by what is missing), as wasi-libc's `malloc` does; later ones grow
//! memory. dlmalloc asks in steps of [`GRANULARITY`] rather than its default 64 KiB, so
//! a small first request fits in that free end.
//!
//! Each entry point is kept out of line: LTO would otherwise inline dlmalloc into every
//! allocation and every drop, which made the component 7% larger.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use dlmalloc::Dlmalloc;

const PAGE: usize = 64 * 1024;

/// dlmalloc's step for asking memory of the system.
const GRANULARITY: usize = 4 * 1024;

unsafe extern "C" {
    /// Set by the linker after the data and the stack: the heap starts here.
    static __heap_base: u8;
}

/// The system side of dlmalloc: the initial memory's free end once, then `memory.grow`.
struct InitialMemoryFirst {
    given: AtomicBool,
}

/// Grows memory by enough pages for `size` bytes; `(start, bytes)`.
fn grow(size: usize) -> Option<(usize, usize)> {
    let pages = size.div_ceil(PAGE);
    let previous = wasm32::memory_grow(0, pages);
    (previous != usize::MAX).then(|| (previous * PAGE, pages * PAGE))
}

// SAFETY: every region handed out is memory no one else uses: the initial memory past
// `__heap_base` (the linker puts nothing there, and nothing else allocates), or pages
// just grown. Both are zeroed, as `allocates_zeros` says. Nothing is ever returned.
unsafe impl dlmalloc::Allocator for InitialMemoryFirst {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let region = if self.given.swap(true, Ordering::Relaxed) {
            grow(size)
        } else {
            let base = (&raw const __heap_base) as usize;
            let free = (wasm32::memory_size(0) * PAGE).saturating_sub(base);
            if free >= size {
                Some((base, free))
            } else {
                // Grown pages follow the free end: one region.
                grow(size - free).map(|(_, grown)| (base, free + grown))
            }
        };
        match region {
            Some((start, bytes)) => (start as *mut u8, bytes, 0),
            None => (ptr::null_mut(), 0, 0),
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// The global allocator.
pub struct GuestAllocator(UnsafeCell<Dlmalloc<InitialMemoryFirst>>);

// SAFETY: a component instance runs one thread (the guest is built without the threads
// proposal), so the allocator is never entered twice at once.
unsafe impl Sync for GuestAllocator {}

impl GuestAllocator {
    pub const fn new() -> Self {
        let mut dlmalloc = Dlmalloc::new_with_allocator(InitialMemoryFirst {
            given: AtomicBool::new(false),
        });
        assert!(dlmalloc.set_granularity(GRANULARITY));
        Self(UnsafeCell::new(dlmalloc))
    }

    #[allow(clippy::mut_from_ref)]
    fn dlmalloc(&self) -> &mut Dlmalloc<InitialMemoryFirst> {
        // SAFETY: single-threaded (see `Sync`), and no entry point re-enters another.
        unsafe { &mut *self.0.get() }
    }
}

// SAFETY: every method forwards to dlmalloc with the layout's size and alignment.
unsafe impl GlobalAlloc for GuestAllocator {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { self.dlmalloc().malloc(layout.size(), layout.align()) }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { self.dlmalloc().calloc(layout.size(), layout.align()) }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.dlmalloc().free(ptr, layout.size(), layout.align()) }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            self.dlmalloc()
                .realloc(ptr, layout.size(), layout.align(), new_size)
        }
    }
}
