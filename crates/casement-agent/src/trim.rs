//! Give back the pages start-up touched. The agent is one binary with the server, so
//! parsing its arguments, setting up logging and registering fault in megabytes of code
//! and read-only data it will not run again; an idle agent's loop uses a small part of
//! that. `MADV_PAGEOUT` on the file-backed mappings drops them from this process (they
//! stay in the page cache, and whatever the loop needs faults back in), so the resident
//! size of an idle agent is its working set (BENCHMARKS.md).

use std::time::Duration;

/// Trim once shortly after start (registration and the first polls are done by then),
/// then every few minutes, in case a command run faulted in more.
pub async fn periodically() {
    tokio::time::sleep(Duration::from_secs(10)).await;
    loop {
        file_backed_pages_out();
        tokio::time::sleep(Duration::from_secs(300)).await;
    }
}

fn file_backed_pages_out() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return };
    for line in maps.lines() {
        // address perms offset dev inode path
        let mut f = line.split_whitespace();
        let (Some(range), Some(_perms), Some(_off), Some(_dev), Some(inode), Some(path)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if inode == "0" || !path.starts_with('/') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else {
            continue;
        };
        // SAFETY: advice on a mapping of our own address space; MADV_PAGEOUT never changes
        // contents (file pages are re-read on the next touch, dirty private pages stay).
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT);
        }
    }
}
