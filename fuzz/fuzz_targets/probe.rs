//! Sniff and header probe only. Beyond the properties in `image_processor::fuzzing::probe`,
//! this target counts the bytes allocated during the probe: a header walk must not allocate
//! in proportion to its input. What it may allocate is bounded by a constant: the rejection
//! message, which for an unsupported format describes at most the first 256 bytes.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;

/// The most a probe may allocate, in bytes requested over the whole call: the rejection
/// message and the lossy UTF-8 copy (3 bytes per invalid byte) and lowercase copy of the
/// 256-byte prefix the unsupported-format hint reads; far below any decoded image.
const PROBE_ALLOC_BUDGET: usize = 8 * 1024;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes asked for while `COUNTING` is set.
struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    ALLOCATED.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let header = image_processor::fuzzing::probe(data);
    COUNTING.store(false, Ordering::Relaxed);
    let used = ALLOCATED.load(Ordering::Relaxed);
    assert!(
        used <= PROBE_ALLOC_BUDGET,
        "probe of {} bytes allocated {used} bytes ({header:?})",
        data.len()
    );
});
