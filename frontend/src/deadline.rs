//! A time bound for downloads BuildKit makes itself. BuildKit's HTTP source
//! has no stall timeout: a server that stops sending mid-body keeps the
//! build waiting until someone cancels it. The frontend solves those
//! downloads itself, a bounded number at a time, and gives up when they
//! have not all finished within a bound, naming the ones still running.
//! Returning the error ends the build, and BuildKit cancels what is left.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use crate::gateway::GatewayError;

/// Time every download phase gets before the per-size allowance.
pub const BASE: Duration = Duration::from_secs(600);
/// Slowest download rate the default bound allows for: one second per MiB.
pub const MIN_BYTES_PER_SEC: u64 = 1 << 20;

/// The default bound for downloading `bytes`: [`BASE`] plus one second
/// per MiB (as if the server sent at least 1 MiB/s).
pub fn default_bound(bytes: u64) -> Duration {
    BASE + Duration::from_secs(bytes / MIN_BYTES_PER_SEC)
}

/// Why [`run_all`] did not give every result.
#[derive(Debug)]
pub enum Unfinished {
    /// A job failed: the first failing one in job order, with its index.
    Failed(usize, GatewayError),
    /// The bound passed; these jobs (indices, in order) had not finished.
    TimedOut(Vec<usize>),
}

/// Runs `jobs`, at most `limit` at once, and returns their results in job
/// order. Waits for every job unless `bound` passes first (`None`: no
/// bound), so a failure reported is the first in job order, as it would be
/// one after another.
pub async fn run_all<T, F>(
    jobs: Vec<F>,
    limit: usize,
    bound: Option<Duration>,
) -> Result<Vec<T>, Unfinished>
where
    F: Future<Output = Result<T, GatewayError>>,
{
    let n = jobs.len();
    let mut results: Vec<Option<Result<T, GatewayError>>> = (0..n).map(|_| None).collect();
    let all = async {
        let mut running = stream::iter(
            jobs.into_iter()
                .enumerate()
                .map(|(i, job)| async move { (i, job.await) }),
        )
        .buffer_unordered(limit.max(1));
        while let Some((i, result)) = running.next().await {
            results[i] = Some(result);
        }
    };
    let in_time = match bound {
        Some(d) => tokio::time::timeout(d, all).await.is_ok(),
        None => {
            all.await;
            true
        }
    };
    if !in_time {
        return Err(Unfinished::TimedOut(
            (0..n).filter(|&i| results[i].is_none()).collect(),
        ));
    }
    let mut out = Vec::with_capacity(n);
    for (i, r) in results.into_iter().enumerate() {
        match r.expect("every job finished") {
            Ok(v) => out.push(v),
            Err(e) => return Err(Unfinished::Failed(i, e)),
        }
    }
    Ok(out)
}

/// [`run_all`] without a bound: every result in job order, or the first
/// failure in job order.
pub async fn all_in_order<T, F>(jobs: Vec<F>, limit: usize) -> Result<Vec<T>, GatewayError>
where
    F: Future<Output = Result<T, GatewayError>>,
{
    match run_all(jobs, limit, None).await {
        Ok(results) => Ok(results),
        Err(Unfinished::Failed(_, e)) => Err(e),
        Err(Unfinished::TimedOut(_)) => Err(GatewayError::Local(anyhow::anyhow!(
            "internal error: jobs without a bound timed out"
        ))),
    }
}

/// "a, b and 3 more": up to three names of a list, for one-line errors.
pub fn some_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        _ if names.len() <= 3 => format!(
            "{} and {}",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ),
        _ => format!("{} and {} more", names[..3].join(", "), names.len() - 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A runtime on a paused clock: the jobs' sleeps and the bound are
    /// virtual, so their order is exact and no test really waits.
    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn results_come_in_job_order_with_at_most_limit_running() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let jobs: Vec<_> = (0..10u64)
            .map(|i| {
                let (running, peak) = (&running, &peak);
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20 - 2 * i)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<u64, GatewayError>(i)
                }
            })
            .collect();
        let got = rt()
            .block_on(run_all(jobs, 3, Some(Duration::from_secs(10))))
            .unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_first_failure_in_job_order_is_reported() {
        let jobs: Vec<_> = (0..5u64)
            .map(|i| async move {
                // Job 3 fails first in time, job 1 first in order.
                tokio::time::sleep(Duration::from_millis(if i == 3 { 1 } else { 30 })).await;
                if i == 1 || i == 3 {
                    Err(GatewayError::Local(anyhow::anyhow!("job {i} failed")))
                } else {
                    Ok(i)
                }
            })
            .collect();
        match rt().block_on(run_all(jobs, 5, None)) {
            Err(Unfinished::Failed(1, e)) => assert_eq!(e.to_string(), "job 1 failed"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jobs_still_running_at_the_bound_are_named() {
        let jobs: Vec<_> = (0..4u64)
            .map(|i| async move {
                let wait = if i % 2 == 0 {
                    Duration::from_millis(1)
                } else {
                    Duration::from_secs(3600)
                };
                tokio::time::sleep(wait).await;
                Ok::<u64, GatewayError>(i)
            })
            .collect();
        match rt().block_on(run_all(jobs, 4, Some(Duration::from_millis(200)))) {
            Err(Unfinished::TimedOut(pending)) => assert_eq!(pending, [1, 3]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_default_bound_grows_with_the_size() {
        assert_eq!(default_bound(0), Duration::from_secs(600));
        assert_eq!(
            default_bound(20 << 30),
            Duration::from_secs(600 + 20 * 1024)
        );
    }

    #[test]
    fn names_are_shortened() {
        assert_eq!(some_names(&["a"]), "a");
        assert_eq!(some_names(&["a", "b"]), "a and b");
        assert_eq!(some_names(&["a", "b", "c"]), "a, b and c");
        assert_eq!(some_names(&["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }
}
