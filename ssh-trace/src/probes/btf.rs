//! Minimal reader of the kernel's BTF (/sys/kernel/btf/vmlinux): enough to
//! find the byte offset of a struct member, looking through anonymous
//! structs and unions. aya 0.14 keeps its own BTF table private.
use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};

const MAGIC: u16 = 0xeb9f;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_TYPE_TAG: u32 = 18;

struct Member {
    name: u32,
    ty: u32,
    bit_offset: u32,
}

enum Type {
    Composite { members: Vec<Member> },
    Alias { ty: u32 },
    Other,
}

pub struct Btf {
    strings: Vec<u8>,
    /// Index = type id - 1.
    types: Vec<(u32, Type)>,
    structs: HashMap<String, u32>,
    /// Named enums: (name offset, value) of each enumerator.
    enums: HashMap<String, Vec<(u32, i64)>>,
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 4).context("BTF truncated")?;
    Ok(u32::from_le_bytes(s.try_into().unwrap_or_default()))
}

impl Btf {
    pub fn parse(data: &[u8]) -> Result<Self> {
        ensure!(data.len() >= 24, "BTF shorter than its header");
        let magic = u16::from_le_bytes([data[0], data[1]]);
        ensure!(magic == MAGIC, "not little-endian BTF (magic {magic:#x})");
        let hdr_len = u32_at(data, 4)? as usize;
        let type_off = u32_at(data, 8)? as usize;
        let type_len = u32_at(data, 12)? as usize;
        let str_off = u32_at(data, 16)? as usize;
        let str_len = u32_at(data, 20)? as usize;
        let types_raw = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .context("BTF type section out of bounds")?;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .context("BTF string section out of bounds")?
            .to_vec();
        let mut btf = Btf {
            strings,
            types: Vec::new(),
            structs: HashMap::new(),
            enums: HashMap::new(),
        };
        let mut at = 0;
        while at < types_raw.len() {
            let name = u32_at(types_raw, at)?;
            let info = u32_at(types_raw, at + 4)?;
            let size_or_type = u32_at(types_raw, at + 8)?;
            at += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let ty = match kind {
                KIND_STRUCT | KIND_UNION => {
                    let mut members = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let m = at + i * 12;
                        let off = u32_at(types_raw, m + 8)?;
                        members.push(Member {
                            name: u32_at(types_raw, m)?,
                            ty: u32_at(types_raw, m + 4)?,
                            // With kind_flag the top 8 bits are a bitfield size.
                            bit_offset: if kind_flag { off & 0xff_ffff } else { off },
                        });
                    }
                    at += vlen * 12;
                    Type::Composite { members }
                }
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    Type::Alias { ty: size_or_type }
                }
                KIND_ENUM => {
                    let mut values = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let e = at + i * 8;
                        let val = u32_at(types_raw, e + 4)? as i32 as i64;
                        values.push((u32_at(types_raw, e)?, val));
                    }
                    at += vlen * 8;
                    if name != 0 {
                        btf.enums.insert(btf.name(name).to_owned(), values);
                    }
                    Type::Other
                }
                _ => {
                    at += match kind {
                        1 => 4,          // INT
                        3 => 12,         // ARRAY
                        13 => vlen * 8,  // FUNC_PROTO
                        14 => 4,         // VAR
                        15 => vlen * 12, // DATASEC
                        17 => 4,         // DECL_TAG
                        19 => vlen * 12, // ENUM64
                        2 | 7 | 12 | 16 => 0,
                        k => bail!("unknown BTF kind {k}"),
                    };
                    Type::Other
                }
            };
            if kind == KIND_STRUCT && name != 0 {
                let id = btf.types.len() as u32 + 1;
                btf.structs.entry(btf.name(name).to_owned()).or_insert(id);
            }
            btf.types.push((kind, ty));
        }
        Ok(btf)
    }

    fn name(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    fn resolve(&self, mut id: u32) -> Option<&Type> {
        for _ in 0..32 {
            let (_, t) = self.types.get(id.checked_sub(1)? as usize)?;
            match t {
                Type::Alias { ty } => id = *ty,
                t => return Some(t),
            }
        }
        None
    }

    /// Byte offset of `member` in `struct strukt`.
    pub fn offset(&self, strukt: &str, member: &str) -> Result<u32> {
        let id = *self
            .structs
            .get(strukt)
            .with_context(|| format!("struct {strukt} not in kernel BTF"))?;
        let bits = self
            .find(id, member, 0)
            .with_context(|| format!("{strukt}.{member} not in kernel BTF"))?;
        ensure!(bits % 8 == 0, "{strukt}.{member} is a bitfield");
        Ok(bits / 8)
    }

    /// Value of enumerator `name` of `enum tag`.
    pub fn enum_value(&self, tag: &str, name: &str) -> Result<u32> {
        let values = self
            .enums
            .get(tag)
            .with_context(|| format!("enum {tag} not in kernel BTF"))?;
        let (_, v) = values
            .iter()
            .find(|(n, _)| self.name(*n) == name)
            .with_context(|| format!("{tag}::{name} not in kernel BTF"))?;
        u32::try_from(*v).with_context(|| format!("{tag}::{name} = {v} is out of range"))
    }

    fn find(&self, id: u32, member: &str, depth: u32) -> Option<u32> {
        let Type::Composite { members } = self.resolve(id)? else {
            return None;
        };
        if depth > 8 {
            return None;
        }
        for m in members {
            if m.name != 0 && self.name(m.name) == member {
                return Some(m.bit_offset);
            }
        }
        // Anonymous struct/union members hold fields of the outer struct.
        members
            .iter()
            .filter(|m| m.name == 0)
            .find_map(|m| Some(m.bit_offset + self.find(m.ty, member, depth + 1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(&[0; 10]).is_err());
        let err = Btf::parse(&[0; 64]).err().unwrap();
        assert!(err.to_string().contains("magic"), "{err}");
        // A header whose sections point past the end.
        let mut h = vec![0u8; 24];
        h[..2].copy_from_slice(&0xeb9fu16.to_le_bytes());
        h[4..8].copy_from_slice(&24u32.to_le_bytes());
        h[12..16].copy_from_slice(&1000u32.to_le_bytes());
        assert!(Btf::parse(&h)
            .err()
            .unwrap()
            .to_string()
            .contains("out of bounds"));
    }

    #[test]
    fn reads_running_kernel() {
        let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux");
            return;
        };
        let btf = Btf::parse(&data).unwrap();
        // sock_common is the first member of struct sock.
        assert_eq!(btf.offset("sock", "__sk_common").unwrap(), 0);
        // Fields inside mm_struct's anonymous struct are found.
        assert!(btf.offset("mm_struct", "arg_start").unwrap() > 0);
        assert!(btf.offset("task_struct", "nonexistent").is_err());
        // enum sock_flags starts SOCK_DEAD, SOCK_DONE.
        assert_eq!(btf.enum_value("sock_flags", "SOCK_DONE").unwrap(), 1);
        assert!(btf.enum_value("sock_flags", "NOPE").is_err());
    }
}
