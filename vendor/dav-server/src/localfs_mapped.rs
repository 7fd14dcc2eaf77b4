//! davgate patch: large reads of a local file served from a memory mapping (no copy into a
//! buffer; the socket write sends straight from the page cache).
//!
//! A read of at least [`MAPPED_READ_MIN`] bytes maps that window of the file (its pages made
//! sure to be in the page cache on the blocking thread, so that sending it does not wait for
//! the disk on the runtime) and hands it out as [`Bytes`] that unmap the window when the last
//! reference is dropped. So at most a window or two per download in flight is mapped,
//! whatever the file's size.
//!
//! A mapping whose file is truncated by someone else raises SIGBUS when *user space* touches a
//! page past the new end. The kernel's own access (a `write`/`writev` to a plain TCP socket)
//! does not: it fails with `EFAULT`, which only ends that response. So the caller must ask for
//! mapped reads only where nothing in the process reads the bytes: plain HTTP/1.1, where
//! hyper queues the `Bytes` and writes them with `writev`. Behind TLS (rustls encrypts from
//! them) or HTTP/2 (h2 may copy small frames) use reads below the threshold instead.
//!
//! Every live window is registered with the file and offset it shows ([`mapped_source`]), so
//! a socket writer that is handed a slice of one can send it with `sendfile(2)` instead of
//! copying it out of the mapping: the kernel then passes page-cache pages to the socket and
//! the mapping only stands for them. Its pages are not mapped in up front (`MAP_POPULATE`
//! cost more CPU per byte than the sending itself), so a window sent that way adds nothing to
//! the RSS; a writer that copies from it instead faults them in as it goes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::io::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Reads asking for at least this many bytes are served from a mapping.
pub const MAPPED_READ_MIN: usize = 1024 * 1024;

/// At most this many bytes are mapped at once by default, process-wide; past it a read copies
/// instead (128 KiB at a time). Windows sent with `sendfile` hold address space and a file
/// descriptor each, not memory: 256 windows of 1 MiB serve a couple of hundred downloads at
/// once within the descriptors the server keeps in reserve.
pub const MAPPED_BUDGET: usize = 256 * 1024 * 1024;

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

/// Where the bytes of a live window come from: its end address, the file (a handle of its
/// own) and the file offset of its first byte.
struct Source {
    end: usize,
    file: Arc<File>,
    offset: u64,
}

/// The live windows, by start address. Looked up only while some bytes are mapped ([`MAPPED`]
/// is not zero), so a server that sends no big file never takes the lock.
static SOURCES: Mutex<BTreeMap<usize, Source>> = Mutex::new(BTreeMap::new());

fn sources() -> std::sync::MutexGuard<'static, BTreeMap<usize, Source>> {
    SOURCES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The file range that some bytes of a live mapped window show.
pub struct MappedSource {
    /// The window's file, to send from.
    pub file: Arc<File>,
    /// The file offset of the first byte.
    pub offset: u64,
    /// How many of the bytes asked about lie in the window (all of them for a slice of its
    /// `Bytes`).
    pub len: usize,
}

/// The file range behind `len` bytes at `ptr`, if they start in a live mapped window; `None`
/// for any other memory, at the cost of one atomic load while nothing is mapped.
pub fn mapped_source(ptr: *const u8, len: usize) -> Option<MappedSource> {
    if MAPPED.load(Ordering::Acquire) == 0 || len == 0 {
        return None;
    }
    let addr = ptr as usize;
    let sources = sources();
    let (&start, source) = sources.range(..=addr).next_back()?;
    if addr >= source.end {
        return None;
    }
    Some(MappedSource {
        file: Arc::clone(&source.file),
        offset: source.offset + (addr - start) as u64,
        len: len.min(source.end - addr),
    })
}

/// One mapped window of a file, unmapped on drop.
struct Window {
    ptr: NonNull<libc::c_void>,
    len: usize,
    _claim: Claim,
}

impl Window {
    /// Makes the window findable by [`mapped_source`].
    fn register(&self, file: Arc<File>, offset: u64) {
        let start = self.ptr.as_ptr() as usize;
        sources().insert(start, Source { end: start + self.len, file, offset });
    }
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
        // Unregistered before the address range can be mapped again.
        sources().remove(&(self.ptr.as_ptr() as usize));
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

/// Makes sure the pages of `window` (of `file` from `offset`) are in the page cache, without
/// mapping them: `mincore` tells, and a window with a page missing is read through a small
/// buffer here, on the blocking thread, so that sending it does not wait for the disk on the
/// runtime. (The kernel may still evict a page in between; `sendfile` then reads it again.)
fn ensure_cached(window: &Window, file: &File, offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let page = page_size() as usize;
    let mut resident = vec![0u8; window.len.div_ceil(page)];
    // SAFETY: ptr/len are a live mapping; `resident` has one byte per page of it.
    let known = unsafe { libc::mincore(window.ptr.as_ptr(), window.len, resident.as_mut_ptr()) };
    if known == 0 && resident.iter().all(|r| r & 1 == 1) {
        return Ok(());
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0;
    while done < window.len {
        let want = buf.len().min(window.len - done);
        match file.read_at(&mut buf[..want], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
            libc::MAP_SHARED,
            file.as_raw_fd(),
            offset,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::other("mmap returned null"))?;
    let window = Window { ptr, len, _claim: claim };
    ensure_cached(&window, file, start)?;
    // Without a handle of its own (no descriptor left) the window is still valid, only copied.
    if let Ok(handle) = file.try_clone() {
        window.register(Arc::new(handle), start);
    }
    file.seek(SeekFrom::Start(pos + avail as u64))?;
    Ok(Some(Bytes::from_owner(window).slice(skip..)))
}
