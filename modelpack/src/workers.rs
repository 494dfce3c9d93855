//! A small pool of threads working through a list of jobs, shared by the
//! in-build steps that handle many files (downloads, scans, `pack-many`)
//! and the CLI's `pack` downloads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `work(i)` for every `i` in `0..jobs`, on up to `threads` threads,
/// starting jobs in index order. After the first failure no new job
/// starts; returns that failure with its job's index.
pub fn run_until_failure<E: Send>(
    jobs: usize,
    threads: usize,
    work: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), (usize, E)> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first: Mutex<Option<(usize, E)>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, jobs.max(1)) {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return;
                }
                if let Err(e) = work(i) {
                    failed.store(true, Ordering::Relaxed);
                    first
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert((i, e));
                    return;
                }
            });
        }
    });
    match first.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Runs `work(i)` for every `i` in `0..jobs` on up to `threads` threads
/// (as [`run_until_failure`]) and returns the results in index order, or
/// the first failure.
pub fn map_until_failure<T: Send, E: Send>(
    jobs: usize,
    threads: usize,
    work: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..jobs).map(|_| None).collect());
    run_until_failure(jobs, threads, |i| {
        let value = work(i)?;
        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(value);
        Ok(())
    })
    .map_err(|(_, e)| e)?;
    Ok(results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|v| v.expect("every job ran"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_on_at_most_the_threads_given() {
        let runs: Vec<AtomicUsize> = (0..50).map(|_| AtomicUsize::new(0)).collect();
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        run_until_failure::<()>(50, 4, |i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            runs[i].fetch_add(1, Ordering::SeqCst);
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
        assert!(peak.load(Ordering::SeqCst) <= 4);
    }

    #[test]
    fn after_a_failure_no_new_job_starts() {
        // One thread makes it exact: jobs 0 to 5 ran, none after the failure.
        // (With more threads, jobs already taken may still finish, and how
        // many that is depends on timing, so only the result is checked.)
        for threads in [1, 2] {
            let started = AtomicUsize::new(0);
            let err = run_until_failure(1000, threads, |i| {
                started.fetch_add(1, Ordering::SeqCst);
                if i == 5 {
                    Err(format!("job {i}"))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
            assert_eq!(err, (5, "job 5".to_string()));
            if threads == 1 {
                assert_eq!(started.load(Ordering::SeqCst), 6);
            }
        }
    }
}
