//! Several capture files read as one stream in time order.
use std::{cmp::Reverse, collections::BinaryHeap, path::PathBuf};

use anyhow::Result;

use super::reader::Reader;
use crate::event::Event;

pub struct Merged {
    readers: Vec<Reader>,
    heads: BinaryHeap<Reverse<(u64, usize, u64)>>,
    next: Vec<Option<Event>>,
    seq: u64,
}

impl Merged {
    /// Opens every file; the first one that cannot be opened is the error.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let readers = paths
            .iter()
            .map(|p| Reader::open(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::of(readers))
    }

    /// The files' terminal recordings instead of their events.
    pub fn open_terminals(paths: &[PathBuf]) -> Result<Self> {
        let readers = paths
            .iter()
            .map(|p| Reader::open(p).map(Reader::terminals))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::of(readers))
    }

    fn of(readers: Vec<Reader>) -> Self {
        let mut m = Self {
            next: (0..readers.len()).map(|_| None).collect(),
            readers,
            heads: BinaryHeap::new(),
            seq: 0,
        };
        for i in 0..m.readers.len() {
            m.refill(i);
        }
        m
    }

    pub fn readers(&self) -> &[Reader] {
        &self.readers
    }

    fn refill(&mut self, i: usize) {
        if let Some(ev) = self.readers[i].next_event() {
            // seq keeps events of equal time in file order.
            self.seq += 1;
            self.heads.push(Reverse((ev.time_ns, i, self.seq)));
            self.next[i] = Some(ev);
        }
    }

    /// The next event and the index of the file it came from.
    pub fn next_event(&mut self) -> Option<(Event, usize)> {
        let Reverse((_, i, _)) = self.heads.pop()?;
        let ev = self.next[i].take();
        self.refill(i);
        ev.map(|e| (e, i))
    }

    /// Warnings gathered so far from all files.
    pub fn take_warnings(&mut self) -> Vec<String> {
        self.readers
            .iter_mut()
            .flat_map(|r| r.take_warnings())
            .collect()
    }
}
