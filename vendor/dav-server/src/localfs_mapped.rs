//! davgate patch: large reads of a local file served from a memory mapping (no copy into a
//! buffer; the socket write copies straight from the page cache).
//!
//! A read of at least [`MAPPED_READ_MIN`] bytes maps that window of the file (populated up
//! front, on the blocking thread, so that sending it never waits for the disk on the runtime)
//! and hands it out as [`Bytes`] that unmap the window when the last reference is dropped. So
//! at most one window per download in flight is mapped, whatever the file's size.
//!
//! A mapping whose file is truncated by someone else raises SIGBUS when *user space* touches a
//! page past the new end. The kernel's own access (a `write`/`writev` to a plain TCP socket)
//! does not: it fails with `EFAULT`, which only ends that response. So the caller must ask for
//! mapped reads only where nothing in the process reads the bytes: plain HTTP/1.1, where
//! hyper queues the `Bytes` and writes them with `writev`. Behind TLS (rustls encrypts from
//! them) or HTTP/2 (h2 may copy small frames) use reads below the threshold instead.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::io::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

/// Reads asking for at least this many bytes are served from a mapping.
pub const MAPPED_READ_MIN: usize = 1024 * 1024;

/// At most this many bytes are mapped at once by default, process-wide; past it a read copies
/// instead. Mapped pages count in the process's RSS (as RssFile) whatever the number of
/// downloads, so this bounds what mapped windows add to it: 16 windows of 1 MiB keep a server
/// within 64 MiB of peak RSS while 32 downloads run, and already send as fast as more (the
/// others copy 128 KiB at a time meanwhile).
pub const MAPPED_BUDGET: usize = 16 * 1024 * 1024;

static BUDGET: AtomicUsize = AtomicUsize::new(MAPPED_BUDGET);

/// Sets the process-wide budget of mapped bytes (benchmarks compare budgets in one build);
/// windows already mapped keep their claim.
pub fn set_mapped_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// What a read that asked for a mapping copies instead, once the budget is spent.
pub const FALLBACK_READ: usize = 128 * 1024;

/// The bytes a read of `count` copies: `count`, or [`FALLBACK_READ`] for one that asked for a
/// mapping and did not get one.
pub(crate) fn copied_count(count: usize) -> usize {
    if count >= MAPPED_READ_MIN { FALLBACK_READ } else { count }
}

static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// One mapped window of a file, unmapped on drop.
struct Window {
    ptr: NonNull<libc::c_void>,
    len: usize,
    _claim: Claim,
}

/// A claim on `len` bytes of [`MAPPED_BUDGET`], released on drop.
struct Claim(usize);

impl Claim {
    fn take(len: usize) -> Option<Self> {
        MAPPED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len).filter(|&total| total <= BUDGET.load(Ordering::Relaxed))
            })
            .ok()
            .map(|_| Self(len))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        MAPPED.fetch_sub(self.0, Ordering::AcqRel);
    }
}

// SAFETY: the mapping is read-only and owned by this value alone; any thread may read or unmap it.
unsafe impl Send for Window {}
// SAFETY: as above; the bytes are never written through this mapping.
unsafe impl Sync for Window {}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is a live PROT_READ mapping until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned.
        unsafe {
            libc::munmap(self.ptr.as_ptr(), self.len);
        }
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// Up to `count` bytes of `file` from its current position, as a mapped window; the position
/// advances past them. Empty at the end of the file; `None` (nothing read) when the budget of
/// mapped bytes is spent: the caller copies instead.
pub(crate) fn read_mapped(file: &mut File, count: usize) -> io::Result<Option<Bytes>> {
    let pos = file.stream_position()?;
    let end = file.metadata()?.len();
    let avail = usize::try_from(end.saturating_sub(pos)).unwrap_or(usize::MAX).min(count);
    if avail == 0 {
        return Ok(Some(Bytes::new()));
    }
    let start = pos & !(page_size() - 1);
    let skip = usize::try_from(pos - start).map_err(|_| io::ErrorKind::InvalidInput)?;
    let len = skip + avail;
    let Some(claim) = Claim::take(len) else {
        return Ok(None);
    };
    let offset = libc::off_t::try_from(start).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: a fresh read-only shared mapping of an open file; nothing else aliases it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            file.as_raw_fd(),
            offset,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::other("mmap returned null"))?;
    let window = Window { ptr, len, _claim: claim };
    file.seek(SeekFrom::Start(pos + avail as u64))?;
    Ok(Some(Bytes::from_owner(window).slice(skip..)))
}
