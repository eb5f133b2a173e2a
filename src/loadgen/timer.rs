//! A sleep precise to microseconds inside the tokio runtime: a Linux
//! timerfd registered with the reactor. Tokio's own timer rounds to whole
//! milliseconds, which would release paced requests in bursts at every
//! millisecond tick, and the daemon would see a burstier load than the one
//! asked for.

use crate::os;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct Timer {
    fd: Option<AsyncFd<OwnedFd>>,
}

impl Timer {
    /// A timer; falls back to tokio's timer where timerfd is unavailable.
    pub fn new() -> Timer {
        Timer {
            fd: Self::timerfd().ok(),
        }
    }

    fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
        os::async_fd(os::timerfd()?, Interest::READABLE)
    }

    /// Returns at `t` (at once when it has passed).
    pub async fn sleep_until(&self, t: Instant) {
        let now = Instant::now();
        if t <= now {
            return;
        }
        let Some(fd) = &self.fd else {
            tokio::time::sleep_until(t.into()).await;
            return;
        };
        if os::timerfd_arm(fd.get_ref().as_fd(), t - now).is_err() {
            tokio::time::sleep_until(t.into()).await;
            return;
        }
        loop {
            let Ok(mut ready) = fd.readable().await else {
                tokio::time::sleep_until(t.into()).await;
                return;
            };
            let read = ready.try_io(|fd| os::read_u64(fd.get_ref().as_fd()));
            match read {
                Ok(_) => {
                    // The read emptied the timer: the next sleep waits for
                    // its edge instead of first finding that out by a read.
                    ready.clear_ready();
                    return;
                }
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sleeps_until_the_time_and_not_long_after() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = Timer::new();
            assert!(t.fd.is_some());
            for _ in 0..5 {
                let due = Instant::now() + Duration::from_micros(300);
                t.sleep_until(due).await;
                assert!(Instant::now() >= due);
            }
            // A time in the past returns at once.
            t.sleep_until(Instant::now() - Duration::from_millis(1))
                .await;
        });
    }
}
