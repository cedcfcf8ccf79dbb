//! Reading a growing log file a line at a time, within bounds: at most
//! READ_MAX bytes a call and LINE_MAX bytes a line (a longer one is cut,
//! and said so), from where the file ended when it was opened.
use std::fs::File;

/// Bytes read in one call: the rest waits for the next.
const READ_MAX: usize = 1 << 20;
/// Longer than any server message (OpenSSH cuts its own at 1 KiB).
pub const LINE_MAX: usize = 8192;

pub struct Follower {
    file: File,
    /// Where the next read starts.
    offset: u64,
    /// The unfinished last line.
    partial: Vec<u8>,
    /// The partial line is over LINE_MAX: the rest of it is skipped.
    cutting: bool,
    /// Lines cut at LINE_MAX.
    pub cut: u64,
}

/// One line as read: its text (without the line end), and whether it was
/// cut.
pub struct Line<'a> {
    pub text: &'a [u8],
    pub cut: bool,
}

impl Follower {
    /// Follows `file` from its end, `len` (what was written before is not
    /// this agent's to report).
    pub fn at_end(file: File, len: u64) -> Self {
        Self {
            file,
            offset: len,
            partial: Vec::new(),
            cutting: false,
            cut: 0,
        }
    }

    /// Calls `each` for every line completed since the last call.
    pub fn read_lines(&mut self, mut each: impl FnMut(Line)) -> std::io::Result<()> {
        let len = self.file.metadata()?.len();
        if len < self.offset {
            // Truncated (a rotation by copy): the file starts again.
            self.offset = 0;
            self.partial.clear();
            self.cutting = false;
        }
        let want = (len - self.offset).min(READ_MAX as u64) as usize;
        if want == 0 {
            return Ok(());
        }
        let mut buf = vec![0u8; want];
        let n = read_at(&self.file, &mut buf, self.offset)?;
        self.offset += n as u64;
        let mut rest = &buf[..n];
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = (&rest[..nl], &rest[nl + 1..]);
            rest = tail;
            if self.cutting {
                self.cutting = false;
                self.partial.clear();
                continue;
            }
            self.partial.extend_from_slice(head);
            let cut = self.partial.len() > LINE_MAX;
            if cut {
                self.partial.truncate(LINE_MAX);
                self.cut += 1;
            }
            each(Line {
                text: &self.partial,
                cut,
            });
            self.partial.clear();
        }
        if !self.cutting {
            self.partial.extend_from_slice(rest);
            if self.partial.len() > LINE_MAX {
                // Said once, when it is cut; the rest is skipped.
                self.partial.truncate(LINE_MAX);
                self.cut += 1;
                each(Line {
                    text: &self.partial,
                    cut: true,
                });
                self.partial.clear();
                self.cutting = true;
            }
        }
        Ok(())
    }
}

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Follower) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        f.read_lines(|l| out.push((String::from_utf8_lossy(l.text).into_owned(), l.cut)))
            .unwrap();
        out
    }

    fn scratch_file(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("follow-{name}-{}", std::process::id()))
    }

    /// A file holding `before`, a writer appending to it and a follower.
    fn followed(path: &std::path::Path, before: &[u8]) -> (File, Follower) {
        std::fs::write(path, before).unwrap();
        let w = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        let f = Follower::at_end(File::open(path).unwrap(), before.len() as u64);
        (w, f)
    }

    #[test]
    fn lines_are_read_from_the_end_at_open_and_a_partial_one_waits() {
        let path = scratch_file("partial");
        let (mut w, mut f) = followed(&path, b"before\n");
        w.write_all(b"one\r\ntw").unwrap();
        assert_eq!(lines(&mut f), [("one\r".to_owned(), false)]);
        w.write_all(b"o\n").unwrap();
        assert_eq!(lines(&mut f), [("two".to_owned(), false)]);
        assert!(lines(&mut f).is_empty());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_line_over_the_bound_is_cut_once_and_its_rest_skipped() {
        let path = scratch_file("long");
        let (mut w, mut f) = followed(&path, b"");
        w.write_all(&vec![b'a'; LINE_MAX + 10]).unwrap();
        let got = lines(&mut f);
        assert_eq!(got.len(), 1);
        assert!(got[0].1 && got[0].0.len() == LINE_MAX);
        w.write_all(b"aaa\nnext\n").unwrap();
        assert_eq!(lines(&mut f), [("next".to_owned(), false)]);
        assert_eq!(f.cut, 1);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_its_start() {
        let path = scratch_file("trunc");
        std::fs::write(&path, b"old line\n").unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let mut f = Follower::at_end(File::open(&path).unwrap(), len);
        std::fs::write(&path, b"new\n").unwrap();
        assert_eq!(lines(&mut f), [("new".to_owned(), false)]);
        let _ = std::fs::remove_file(&path);
    }
}
