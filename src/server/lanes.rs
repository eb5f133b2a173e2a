//! Lanes: the threads that serve check and batch connections, one per
//! core, each running its own single-threaded runtime with its own epoll.
//!
//! Each lane keeps to one CPU (`[lanes] pin`, on by default), so a request
//! always wakes its lane on the CPU it slept on. On the 2-vCPU VM of the
//! README's Performance section, with the load generator on the same two
//! CPUs, the time from a request's write to its handler fell from 31–32 µs
//! to 25–26 µs at the median, and the JSON p99 at 20k requests a second
//! from 620–1 060 µs to 280–530 µs (4 + 4 alternated runs).
//!
//! A connection is handed to one lane when it is accepted and stays there:
//! its requests are read, answered and written by that thread alone. On a
//! work-stealing runtime every readiness event could wake another worker
//! to steal the task, and an idle worker parks and is unparked through a
//! futex; with a few hundred microseconds of budget per request those
//! wake-ups and context switches were most of the kernel time and of the
//! tail latency. A lane only sleeps in `epoll_wait` and is woken by the
//! socket it serves.
//!
//! The accept loops, signals, the admin socket, reloads and the metrics
//! listener stay on the daemon's main runtime. A lane takes the connection
//! with the fewest open connections (ties go round the lanes). Work that
//! would hold a lane for long (a batch frame large enough to be spread
//! over the cores) is sent to rayon and awaited, so the lane keeps serving
//! its other connections.

use crate::os;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

struct Lane {
    handle: Handle,
    /// Connections the lane serves now.
    open: Arc<AtomicUsize>,
}

/// The lanes of a daemon.
pub struct Lanes {
    lanes: Vec<Lane>,
    next: AtomicUsize,
    /// Each lane's thread and the sender that ends its runtime.
    threads: Mutex<Vec<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl Lanes {
    /// Starts `n` lanes (at least one). With `cpus` not empty, lane `i`
    /// keeps to CPU `cpus[i % cpus.len()]`; a lane the kernel refuses to
    /// pin runs unpinned (logged).
    pub fn start(n: usize, cpus: &[usize]) -> std::io::Result<Lanes> {
        let mut lanes = Vec::new();
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = rt.handle().clone();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
            let thread = std::thread::Builder::new()
                .name(format!("credlist-lane-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if let Err(e) = os::pin_current_thread(cpu) {
                            tracing::warn!(lane = i, cpu, error = %e, "cannot keep the lane on its CPU; it runs unpinned");
                        }
                    }
                    rt.block_on(async {
                        let _ = stop_rx.await;
                    });
                    // Tasks still on the lane (connections past the
                    // shutdown timeout) are dropped here, closing them.
                    rt.shutdown_timeout(Duration::from_millis(100));
                })?;
            lanes.push(Lane {
                handle,
                open: Arc::new(AtomicUsize::new(0)),
            });
            threads.push((stop_tx, thread));
        }
        Ok(Lanes {
            lanes,
            next: AtomicUsize::new(0),
            threads: Mutex::new(threads),
        })
    }

    /// The lane with the fewest open connections, starting the search at
    /// the next lane round the ring so that ties are spread.
    fn pick(&self) -> &Lane {
        let n = self.lanes.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|k| &self.lanes[(first + k) % n])
            .min_by_key(|l| l.open.load(Ordering::Relaxed))
            .expect("at least one lane")
    }

    /// Runs a connection's future on a lane until it ends. The future is
    /// made on the lane (`make` runs there), so that the sockets it opens
    /// register with that lane's reactor.
    pub fn serve<F, Fut>(&self, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let lane = self.pick();
        let open = lane.open.clone();
        open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(open);
        lane.handle.spawn(async move {
            let _guard = guard;
            make().await;
        });
    }

    /// Whether every lane runs its tasks: each is asked to answer within
    /// `within` (for the systemd watchdog).
    pub async fn responsive(&self, within: Duration) -> bool {
        let started = Instant::now();
        for l in &self.lanes {
            let left = within.saturating_sub(started.elapsed());
            let answered = tokio::time::timeout(left, l.handle.spawn(async {})).await;
            if !matches!(answered, Ok(Ok(()))) {
                return false;
            }
        }
        true
    }

    /// Ends every lane's runtime (dropping the connections still on it)
    /// and waits for its thread.
    pub fn stop(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for (stop, thread) in threads {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts a connection open on its lane while it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn connections_spread_over_the_lanes_and_run_on_lane_threads() {
        let lanes = Lanes::start(2, &[]).unwrap();
        let (tx, rx) = mpsc::channel();
        let (hold_tx, hold_rx) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let tx = tx.clone();
            let mut hold = hold_rx.clone();
            lanes.serve(move || async move {
                let name = std::thread::current().name().unwrap_or("").to_string();
                tx.send(name).unwrap();
                let _ = hold.wait_for(|h| *h).await;
            });
        }
        let mut names: Vec<String> = (0..4).map(|_| rx.recv().unwrap()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "credlist-lane-0",
                "credlist-lane-0",
                "credlist-lane-1",
                "credlist-lane-1"
            ]
        );
        let counts: Vec<usize> = lanes
            .lanes
            .iter()
            .map(|l| l.open.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [2, 2]);
        hold_tx.send(true).unwrap();
        // The counts go back to zero as the connections end.
        for _ in 0..1000 {
            if lanes
                .lanes
                .iter()
                .all(|l| l.open.load(Ordering::Relaxed) == 0)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(lanes
            .lanes
            .iter()
            .all(|l| l.open.load(Ordering::Relaxed) == 0));
        lanes.stop();
    }

    #[test]
    fn a_busy_lane_gets_no_new_connection_while_another_is_free() {
        let lanes = Lanes::start(2, &[]).unwrap();
        let (hold_tx, hold_rx) = tokio::sync::watch::channel(false);
        let mut hold = hold_rx.clone();
        lanes.serve(move || async move {
            let _ = hold.wait_for(|h| *h).await;
        });
        // Whatever the round-robin start, the free lane is picked.
        for _ in 0..4 {
            let busy = lanes
                .lanes
                .iter()
                .position(|l| l.open.load(Ordering::Relaxed) == 1);
            let picked = lanes.pick() as *const Lane;
            let free = busy.map(|b| &lanes.lanes[1 - b] as *const Lane);
            assert_eq!(Some(picked), free);
        }
        hold_tx.send(true).unwrap();
        lanes.stop();
    }

    #[test]
    fn lanes_answer_the_watchdog_and_stop() {
        let lanes = Lanes::start(2, &[]).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(rt.block_on(lanes.responsive(Duration::from_secs(5))));
        lanes.stop();
        // Stopped lanes no longer answer.
        assert!(!rt.block_on(lanes.responsive(Duration::from_millis(50))));
    }

    #[test]
    fn pinned_lanes_run_on_their_cpus_round_the_list() {
        let allowed = os::allowed_cpus().unwrap();
        let cpus = [allowed[0], *allowed.last().unwrap()];
        let lanes = Lanes::start(3, &cpus).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let seen: Vec<Vec<usize>> = lanes
            .lanes
            .iter()
            .map(|l| {
                rt.block_on(l.handle.spawn(async { os::allowed_cpus().unwrap() }))
                    .unwrap()
            })
            .collect();
        assert_eq!(seen, vec![vec![cpus[0]], vec![cpus[1]], vec![cpus[0]]]);
        lanes.stop();
        // Unpinned lanes keep the whole set.
        let lanes = Lanes::start(1, &[]).unwrap();
        let seen = rt
            .block_on(
                lanes.lanes[0]
                    .handle
                    .spawn(async { os::allowed_cpus().unwrap() }),
            )
            .unwrap();
        assert_eq!(seen, allowed);
        lanes.stop();
    }
}
