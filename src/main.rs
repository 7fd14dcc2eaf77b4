//! The `davgate` binary: read the config file and the command line, run one command, print one
//! clear line on error.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    return_large_blocks_to_the_system();
    match cli::start(std::env::args_os().collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("davgate: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

/// Makes glibc serve every allocation of 1 MiB or more (argon2's 7 MiB work areas) with its
/// own mapping, unmapped when freed. By default glibc raises that threshold to the largest
/// block it ever freed, so after the first argon2 run every work area came from the heap and its
/// memory was never given back: an idle server held ~40 MiB it had needed once (at the 19 MiB work areas of then). A fixed
/// threshold also keeps glibc trimming freed heap memory, so a flood's peak is not kept either.
#[expect(unsafe_code, reason = "mallopt has no safe wrapper; the one unsafe call of davgate")]
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // exists, and a refusal (return value 0) merely leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
