//! A spool in memory (feature `testkit`): keeps what it is sent, counts every send, and can be
//! switched off like the memory store.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{BoxFuture, Spool, SpoolError, SpoolMessage};

#[derive(Debug, Default)]
pub struct MemorySpool {
    messages: Mutex<Vec<SpoolMessage>>,
    sends: AtomicUsize,
    /// When set, every send fails as an unreachable queue would.
    pub unavailable: AtomicBool,
}

impl MemorySpool {
    pub fn new() -> Self {
        MemorySpool::default()
    }

    /// Every message the spool took, in order.
    pub fn messages(&self) -> Vec<SpoolMessage> {
        self.messages.lock().expect("not poisoned").clone()
    }

    /// How many sends were tried, taken or not.
    pub fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }
}

impl Spool for MemorySpool {
    fn send<'a>(&'a self, message: &'a SpoolMessage) -> BoxFuture<'a, Result<(), SpoolError>> {
        Box::pin(async move {
            self.sends.fetch_add(1, Ordering::SeqCst);
            if self.unavailable.load(Ordering::SeqCst) {
                return Err(SpoolError::Unavailable("memory spool switched off".into()));
            }
            self.messages
                .lock()
                .expect("not poisoned")
                .push(message.clone());
            Ok(())
        })
    }
}
