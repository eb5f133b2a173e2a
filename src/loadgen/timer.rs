//! A sleep precise to microseconds inside the tokio runtime: a Linux
//! timerfd registered with the reactor. Tokio's own timer rounds to whole
//! milliseconds, which would release paced requests in bursts at every
//! millisecond tick, and the daemon would see a burstier load than the one
//! asked for.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
        // SAFETY: timerfd_create has no memory preconditions; the result is
        // checked before use.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd keeps the descriptor open, unchanged, for as
        // long as the AsyncFd that owns it.
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
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
        let d = t - now;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: a valid timerfd and a valid itimerspec; the old value is
        // not asked for.
        let set = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if set < 0 {
            tokio::time::sleep_until(t.into()).await;
            return;
        }
        loop {
            let Ok(mut ready) = fd.readable().await else {
                tokio::time::sleep_until(t.into()).await;
                return;
            };
            let read = ready.try_io(|fd| {
                let mut ticks = 0u64;
                // SAFETY: reads 8 bytes into a u64 owned by this frame.
                let r = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        (&mut ticks as *mut u64).cast::<libc::c_void>(),
                        8,
                    )
                };
                if r < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match read {
                Ok(_) => return,
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
