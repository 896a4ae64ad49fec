//! Sequential file writes through io_uring: large chunks, several in
//! flight, then fdatasync. Used for RDB files (persistence, disk-backed
//! full sync).
//!
//! ```text
//!   write(bytes)   appended to the current chunk; a full chunk (CHUNK
//!                  bytes) is submitted as one Write at the next offset
//!   (in flight)    at most DEPTH chunks; the oldest is reaped first
//!   finish()       submits the last chunk, reaps all, Fsync(DATASYNC),
//!                  closes: any short write or errno (ENOSPC, EIO) fails
//! ```

#![allow(unsafe_code)] // pushing SQEs: the kernel borrows the buffers named in them.

use io_uring::{opcode, types, IoUring};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Bytes per write.
pub const CHUNK: usize = 1 << 20;
/// Writes in flight.
const DEPTH: usize = 4;

pub struct FileWriter {
    ring: IoUring,
    fd: OwnedFd,
    /// Bytes submitted so far (the next write's offset).
    offset: u64,
    current: Vec<u8>,
    /// Submitted buffers, oldest first, with their offsets (kept alive
    /// until their completion arrives).
    inflight: VecDeque<(u64, Vec<u8>)>,
    written: u64,
}

impl FileWriter {
    /// Creates (truncates) `path` for writing.
    pub fn create(path: &Path) -> io::Result<FileWriter> {
        let file = File::create(path)?;
        let ring = IoUring::new((DEPTH * 2) as u32)?;
        Ok(FileWriter {
            ring,
            fd: OwnedFd::from(file),
            offset: 0,
            current: Vec::with_capacity(CHUNK),
            inflight: VecDeque::new(),
            written: 0,
        })
    }

    /// Bytes accepted so far.
    pub fn len(&self) -> u64 {
        self.offset + self.current.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = CHUNK - self.current.len();
            let take = room.min(bytes.len());
            self.current.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.current.len() == CHUNK {
                self.submit_current()?;
            }
        }
        Ok(())
    }

    fn submit_current(&mut self) -> io::Result<()> {
        if self.current.is_empty() {
            return Ok(());
        }
        while self.inflight.len() >= DEPTH {
            self.reap_one()?;
        }
        let buf = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
        self.push_write(self.offset, buf)?;
        Ok(())
    }

    fn push_write(&mut self, offset: u64, buf: Vec<u8>) -> io::Result<()> {
        let len = u32::try_from(buf.len()).map_err(|_| io::Error::other("chunk too large"))?;
        let sqe = opcode::Write::new(types::Fd(self.fd.as_raw_fd()), buf.as_ptr(), len)
            .offset(offset)
            .build()
            .user_data(offset);
        self.offset = offset + buf.len() as u64;
        self.inflight.push_back((offset, buf));
        // SAFETY: the buffer lives in `inflight` until its completion is
        // reaped (or the writer is dropped after waiting for all of them).
        unsafe {
            self.ring
                .submission()
                .push(&sqe)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        self.ring.submit()?;
        Ok(())
    }

    /// Waits for one completion; a short write is resubmitted for the rest.
    fn reap_one(&mut self) -> io::Result<()> {
        let cqe = loop {
            if let Some(cqe) = self.ring.completion().next() {
                break cqe;
            }
            self.ring.submit_and_wait(1)?;
        };
        let offset = cqe.user_data();
        let pos = self
            .inflight
            .iter()
            .position(|(o, _)| *o == offset)
            .ok_or_else(|| io::Error::other("unknown write completion"))?;
        let (_, buf) = self.inflight.remove(pos).expect("position is valid");
        let res = cqe.result();
        if res < 0 {
            return Err(io::Error::from_raw_os_error(-res));
        }
        let done = res as usize;
        self.written += done as u64;
        if done < buf.len() {
            if done == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            // Resubmit the tail at its own offset (the file offset counter
            // already moved past it).
            let next = self.offset;
            self.push_write(offset + done as u64, buf[done..].to_vec())?;
            self.offset = next;
        }
        Ok(())
    }

    /// Flushes everything, fdatasyncs and closes. Returns bytes written.
    pub fn finish(mut self) -> io::Result<u64> {
        self.submit_current()?;
        while !self.inflight.is_empty() {
            self.reap_one()?;
        }
        let sqe = opcode::Fsync::new(types::Fd(self.fd.as_raw_fd()))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(u64::MAX);
        // SAFETY: no buffers involved.
        unsafe {
            self.ring
                .submission()
                .push(&sqe)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        self.ring.submit_and_wait(1)?;
        let cqe = self
            .ring
            .completion()
            .next()
            .ok_or_else(|| io::Error::other("missing fsync completion"))?;
        if cqe.result() < 0 {
            return Err(io::Error::from_raw_os_error(-cqe.result()));
        }
        Ok(self.written)
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        // Buffers may still be in the kernel's hands: wait for them.
        while !self.inflight.is_empty() {
            if self.ring.submit_and_wait(1).is_err() {
                break;
            }
            while let Some(cqe) = self.ring.completion().next() {
                let offset = cqe.user_data();
                if let Some(pos) = self.inflight.iter().position(|(o, _)| *o == offset) {
                    self.inflight.remove(pos);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_in_order_and_sync() {
        let dir = std::env::temp_dir().join(format!("sluice-fw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.bin");
        let mut w = FileWriter::create(&path).unwrap();
        let mut expect = Vec::new();
        for i in 0..5000u32 {
            let piece: Vec<u8> = (0..(i % 1500)).map(|j| (i ^ j) as u8).collect();
            w.write(&piece).unwrap();
            expect.extend_from_slice(&piece);
        }
        assert_eq!(w.len(), expect.len() as u64);
        assert_eq!(w.finish().unwrap(), expect.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), expect);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_disk_is_an_error() {
        // /dev/full answers every write with ENOSPC.
        let Ok(mut w) = FileWriter::create(Path::new("/dev/full")) else {
            return;
        };
        let err = w
            .write(&vec![1u8; CHUNK * 2])
            .and_then(|_| w.finish().map(|_| ()))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }
}
