//! A Unix stream socket for the tokio runtime that is woken by what it
//! reads, not by room to write.
//!
//! On a Unix stream socket the kernel tells the writer's waiters that there
//! is room again every time the peer reads (`unix_write_space`), however
//! empty the send buffer is. tokio registers every socket for both reading
//! and writing, so each answer a client read woke the daemon's lane (and
//! each request the daemon read woke the client) for nothing: one more
//! sleep and wake-up, and one more interrupt sent across the cores, per
//! request. On the 2-vCPU VM of the Performance section those wake-ups were
//! a quarter of the check generator's CPU time.
//!
//! [`ReadWokenStream`] registers the socket for reading only and writes
//! straight to it. Only when a write finds the buffer full (a peer that
//! does not keep up) is a second descriptor of the same socket registered
//! for writing, and it stays registered for the rest of the connection:
//! from then on the socket behaves like tokio's own stream. TCP needs none
//! of this: its kernel side signals room only after a write found none.
//!
//! Reads go straight into the caller's spare capacity, as tokio's do,
//! without zeroing it first: a batch connection reserves room for its
//! whole frame, and zeroing that before every read of a 1 M-code frame
//! (19 MB) cost a quarter of the batch rate (17.1 M codes/s against 22.9 M
//! with tokio's stream and 23.4 M with these reads, 2 + 2 + 2 runs).

use crate::os;
use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A connected Unix stream registered with the current runtime for
/// reading; see the module's comment.
pub struct ReadWokenStream {
    reader: AsyncFd<UnixStream>,
    /// A duplicate of the socket registered for writing, made the first
    /// time a write would block.
    writer: Option<AsyncFd<UnixStream>>,
}

impl ReadWokenStream {
    /// Registers a connected stream with the current runtime's reactor
    /// (it is made non-blocking).
    pub fn new(stream: UnixStream) -> io::Result<ReadWokenStream> {
        stream.set_nonblocking(true)?;
        Ok(ReadWokenStream {
            reader: os::async_fd(stream, Interest::READABLE)?,
            writer: None,
        })
    }

    /// Connects to `path` and registers the stream.
    pub async fn connect(path: &Path) -> io::Result<ReadWokenStream> {
        let s = tokio::net::UnixStream::connect(path).await?;
        ReadWokenStream::new(s.into_std()?)
    }

    /// Writes with `op`: straight to the socket while it has room; once it
    /// had none, through the writing registration.
    fn poll_write_with<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&UnixStream) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        if self.writer.is_none() {
            match retry_interrupted(|| op(self.reader.get_ref())) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let dup = self.reader.get_ref().try_clone()?;
                    self.writer = Some(os::async_fd(dup, Interest::WRITABLE)?);
                }
                r => return Poll::Ready(r),
            }
        }
        let writer = self.writer.as_ref().expect("registered above");
        loop {
            let mut guard = ready!(writer.poll_write_ready(cx))?;
            match guard.try_io(|w| retry_interrupted(|| op(w.get_ref()))) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Runs `op` again when a signal interrupted it.
fn retry_interrupted<R>(mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

impl AsyncRead for ReadWokenStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.reader.poll_read_ready(cx))?;
            // SAFETY: the bytes are only written by the kernel, never
            // de-initialized.
            let unfilled = unsafe { buf.unfilled_mut() };
            let room = unfilled.len();
            match guard.try_io(|r| retry_interrupted(|| os::read_uninit(r.as_fd(), unfilled))) {
                Ok(Ok(n)) => {
                    // A read that did not fill the buffer emptied the
                    // socket: wait for the next edge instead of finding
                    // that out with another read.
                    if n > 0 && n < room {
                        guard.clear_ready();
                    }
                    // SAFETY: the kernel wrote the first n bytes.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for ReadWokenStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_with(cx, |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.reader.get_ref().shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn bytes_go_both_ways_and_a_shut_write_side_reads_as_the_end() {
        runtime().block_on(async {
            let (ours, theirs) = UnixStream::pair().unwrap();
            let mut ours = ReadWokenStream::new(ours).unwrap();
            let mut theirs = tokio::net::UnixStream::from_std({
                theirs.set_nonblocking(true).unwrap();
                theirs
            })
            .unwrap();
            ours.write_all(b"request").await.unwrap();
            let mut buf = [0u8; 7];
            theirs.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"request");
            theirs.write_all(b"answer").await.unwrap();
            let mut buf = [0u8; 6];
            ours.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"answer");
            // Small writes never needed the writing registration.
            assert!(ours.writer.is_none());
            ours.shutdown().await.unwrap();
            let mut rest = Vec::new();
            theirs.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
            drop(theirs);
            assert_eq!(ours.read(&mut [0u8; 8]).await.unwrap(), 0);
        });
    }

    #[test]
    fn a_write_that_fills_the_socket_waits_for_the_peer_and_loses_nothing() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        // Far more than the socket buffers hold, so the writer must wait.
        let sent: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expected = sent.clone();
        let reader = std::thread::spawn(move || {
            // Start late, so that the writer finds the buffer full first.
            std::thread::sleep(std::time::Duration::from_millis(100));
            let mut got = Vec::new();
            (&theirs).read_to_end(&mut got).unwrap();
            got
        });
        runtime().block_on(async {
            let mut ours = ReadWokenStream::new(ours).unwrap();
            ours.write_all(&sent).await.unwrap();
            assert!(ours.writer.is_some());
            // Vectored writes go the same way once registered.
            let parts = [IoSlice::new(b"tail-"), IoSlice::new(b"end")];
            let n = ours.write_vectored(&parts).await.unwrap();
            assert!(n > 0);
            let rest = &b"tail-end"[n..];
            ours.write_all(rest).await.unwrap();
            ours.shutdown().await.unwrap();
        });
        let got = reader.join().unwrap();
        assert_eq!(got.len(), expected.len() + 8);
        assert!(got[..expected.len()] == expected[..]);
        assert_eq!(&got[expected.len()..], b"tail-end");
    }

    #[test]
    fn reads_into_spare_capacity_keep_every_byte() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let sent: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 253) as u8).collect();
        let expected = sent.clone();
        let writer = std::thread::spawn(move || {
            (&theirs).write_all(&sent).unwrap();
        });
        runtime().block_on(async {
            let mut ours = ReadWokenStream::new(ours).unwrap();
            // Spare capacity far beyond what one read brings: it is read
            // into as it is, never zeroed first.
            let mut got: Vec<u8> = Vec::with_capacity(8 << 20);
            while ours.read_buf(&mut got).await.unwrap() > 0 {}
            assert!(got == expected);
        });
        writer.join().unwrap();
    }

    #[test]
    fn a_reader_waits_for_bytes_that_arrive_later() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            (&theirs).write_all(b"late").unwrap();
            theirs
        });
        runtime().block_on(async {
            let mut ours = ReadWokenStream::new(ours).unwrap();
            let mut buf = [0u8; 4];
            ours.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"late");
        });
        drop(writer.join().unwrap());
    }
}
