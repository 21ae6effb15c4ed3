//! A tiny target BTF for aya's CO-RE relocation, streamed out of vmlinux BTF.
//!
//! `aya::Btf::from_sys_fs()` parses the whole of `/sys/kernel/btf/vmlinux`
//! (~6 MB, ~130k types) only for aya to look up a handful of kernel structs
//! when it fixes up our field offsets. This module owns the shortcut: it reads
//! the raw BTF with a bounded buffer and random access, never holding the file,
//! and writes a new raw BTF blob (header + types + strings, native byte order)
//! that holds just the structs we name, ready for `aya::Btf::parse`.
//!
//! What is kept is exactly what aya's relocation code looks at
//! (`find_candidates` by name and kind, `match_member` descending into
//! anonymous members, `fields_are_compatible`):
//!
//! - every STRUCT/UNION with a requested name, with *all* its members (names,
//!   bit offsets and the bitfield encoding untouched);
//! - for each member type, a stub: typedefs and modifiers resolved away, INT
//!   and FLOAT copied, pointers become `void *`, arrays keep their length and
//!   a stubbed element type, ENUM/ENUM64/FWD keep name, kind and size (no
//!   values), a named struct/union not requested keeps name and size but no
//!   members, and an anonymous struct/union is copied in full, recursively.
//!
//! Field offsets (and sizes, signedness, bitfield shifts, type existence and
//! size) that aya computes against the pruned blob are therefore the same as
//! against the full vmlinux BTF, for the requested structs. Not covered: field
//! relocations rooted in a struct that was not requested (its stub has no
//! members, so aya finds no match, as for a missing type), enum value
//! relocations (stubs have no values), and `bpf_core_type_id_kernel()`, which
//! would yield an id in the pruned blob rather than the kernel's.
//!
//! Note that `aya::EbpfLoader::new()` itself still parses the full vmlinux BTF
//! (aya 0.14), before `.btf()` can replace it.
//!
//! Reading: since Linux 6.16 `/sys/kernel/btf/vmlinux` can be mapped
//! read-only, which gives the kernel's own BTF pages with no copy and no
//! read calls (and, being mapped kernel memory, adds nothing to our RSS);
//! elsewhere sysfs hands out at most a page per `read`, so the file is
//! streamed as before, in two passes and a few random reads, with a bounded
//! buffer. The string scan finds NULs with `memchr` and compares a string
//! only when its last two bytes end one of the wanted names.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const BTF_MAGIC: u16 = 0xeb9f;
const BTF_VERSION: u8 = 1;
const HEADER_LEN: u32 = 24;
/// Every type starts with name_off, info and size/type: three u32 words.
const TYPE_HEAD_LEN: usize = 12;
const READ_BUF_LEN: usize = 64 * 1024;
/// Deepest chain of typedefs, modifiers, arrays and anonymous members we follow.
const MAX_DEPTH: u32 = 32;
/// Longest type or member name we accept (the kernel limit is far below).
const MAX_NAME_LEN: usize = 4096;
const VLEN_MASK: u32 = 0xffff;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Why a target BTF could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("reading BTF from {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading BTF: {0}")]
    Read(#[source] io::Error),
    #[error("not BTF data: bad magic {0:#06x} (expected {BTF_MAGIC:#06x})")]
    BadMagic(u16),
    #[error("BTF data is in the foreign byte order; only native-endian BTF is supported")]
    ForeignEndian,
    #[error("unsupported BTF version {0} (expected {BTF_VERSION})")]
    UnsupportedVersion(u8),
    #[error("malformed BTF header: {0}")]
    BadHeader(&'static str),
    #[error("BTF data is truncated")]
    Truncated,
    #[error("unsupported BTF kind {0}")]
    UnsupportedKind(u32),
    #[error("BTF refers to type id {0}, which does not exist")]
    BadTypeId(u32),
    #[error("BTF string offset {0} is out of range or unterminated")]
    BadString(u32),
    #[error("BTF type {0} nests deeper than {MAX_DEPTH} levels (or loops)")]
    TooDeep(u32),
    #[error("BTF type {id} has kind {kind}, which cannot be the type of a struct member")]
    UnexpectedMemberKind { id: u32, kind: u32 },
    #[error("pruned BTF would exceed the 4 GiB format limit")]
    TooLarge,
}

/// Reads the BTF file at `path` (normally `/sys/kernel/btf/vmlinux`) and
/// returns a raw BTF blob holding only the structs/unions named in
/// `struct_names` and what their members need. See [`prune_reader`].
pub fn prune_file(path: &Path, struct_names: &[&str]) -> Result<Vec<u8>, PruneError> {
    let io_err = |source| PruneError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io_err)?;
    let pruned = match Mapped::of(&file) {
        Some(map) => prune_reader(io::Cursor::new(map.bytes()), struct_names),
        None => prune_reader(file, struct_names),
    };
    pruned.map_err(|e| match e {
        PruneError::Read(source) => io_err(source),
        other => other,
    })
}

/// A read-only private mapping of a whole file, unmapped on drop.
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    /// `None` when the file cannot be mapped (sysfs BTF before Linux 6.16,
    /// an empty file): the caller reads it instead.
    fn of(file: &File) -> Option<Mapped> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(file.metadata().ok()?.len()).ok().filter(|&l| l > 0)?;
        // SAFETY: a fresh read-only private mapping of a descriptor we own;
        // the result is checked for MAP_FAILED before use, and the mapping
        // is only read through `bytes` while `self` lives.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
        (ptr != libc::MAP_FAILED).then_some(Mapped { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes (see `of`),
        // unmapped only in `drop`, after every borrow of `self` has ended.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `of` made; no slice of it
        // outlives `self`.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Streams raw native-endian BTF from `r` and returns a raw BTF blob holding
/// only the structs/unions named in `struct_names` (a `___flavor` suffix is
/// ignored, as aya does). A name absent from the input is not an error: it
/// simply yields no type, and aya will find no candidate for it.
pub fn prune_reader<R: Read + Seek>(mut r: R, struct_names: &[&str]) -> Result<Vec<u8>, PruneError> {
    let mut head = [0u8; HEADER_LEN as usize];
    r.seek(SeekFrom::Start(0)).map_err(read_err)?;
    r.read_exact(&mut head).map_err(read_err)?;
    let hdr = Header::parse(&head)?;

    let wanted: Vec<&[u8]> = struct_names
        .iter()
        .map(|n| n.split_once("___").map_or(*n, |(base, _)| base).as_bytes())
        .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_LEN)
        .collect();
    r.seek(SeekFrom::Start(hdr.str_base())).map_err(read_err)?;
    let name_offs = scan_strings(&mut r, hdr.str_len, &wanted)?;

    r.seek(SeekFrom::Start(hdr.type_base())).map_err(read_err)?;
    let (offsets, roots) = index_types(&mut r, hdr.type_len, &name_offs)?;

    let src = Source { r, hdr, offsets };
    let mut pruner = Pruner {
        src,
        full: roots.iter().copied().collect(),
        types: Vec::new(),
        strings: vec![0],
        names: HashMap::new(),
        memo: HashMap::new(),
    };
    for id in roots {
        pruner.emit(id, 0)?;
    }
    pruner.finish()
}

/// The fields of `struct btf_header` we use.
#[derive(Debug, Clone, Copy)]
struct Header {
    hdr_len: u32,
    type_off: u32,
    type_len: u32,
    str_off: u32,
    str_len: u32,
}

impl Header {
    fn parse(b: &[u8; HEADER_LEN as usize]) -> Result<Self, PruneError> {
        let [m0, m1, version, _flags, rest @ ..] = *b;
        let magic = u16::from_ne_bytes([m0, m1]);
        if magic == BTF_MAGIC.swap_bytes() {
            return Err(PruneError::ForeignEndian);
        }
        if magic != BTF_MAGIC {
            return Err(PruneError::BadMagic(magic));
        }
        if version != BTF_VERSION {
            return Err(PruneError::UnsupportedVersion(version));
        }
        let [hdr_len, type_off, type_len, str_off, str_len] = words(&rest)[..] else {
            return Err(PruneError::Truncated);
        };
        if hdr_len < HEADER_LEN {
            return Err(PruneError::BadHeader("hdr_len is shorter than the header"));
        }
        if type_off % 4 != 0 || type_len % 4 != 0 {
            return Err(PruneError::BadHeader("type section is not 4-byte aligned"));
        }
        Ok(Self { hdr_len, type_off, type_len, str_off, str_len })
    }

    fn type_base(&self) -> u64 {
        u64::from(self.hdr_len) + u64::from(self.type_off)
    }

    fn str_base(&self) -> u64 {
        u64::from(self.hdr_len) + u64::from(self.str_off)
    }
}

/// Maps an I/O error to ours: running out of data means the BTF is truncated.
fn read_err(e: io::Error) -> PruneError {
    if e.kind() == io::ErrorKind::UnexpectedEof { PruneError::Truncated } else { PruneError::Read(e) }
}

/// Native-endian u32 words of `bytes` (a trailing partial word is dropped).
fn words(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The three words every type record starts with.
fn head_words(b: [u8; TYPE_HEAD_LEN]) -> [u32; 3] {
    let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3] = b;
    [u32::from_ne_bytes([a0, a1, a2, a3]), u32::from_ne_bytes([b0, b1, b2, b3]), u32::from_ne_bytes([c0, c1, c2, c3])]
}

fn kind_of(info: u32) -> u32 {
    (info >> 24) & 0x1f
}

fn vlen_of(info: u32) -> usize {
    (info & VLEN_MASK) as usize
}

/// Bytes that follow the 12-byte common head for a type of `kind`.
fn extra_len(kind: u32, vlen: usize) -> Result<usize, PruneError> {
    Ok(match kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_PTR | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC | KIND_TYPE_TAG | KIND_FWD
        | KIND_FLOAT => 0,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => vlen * 12,
        KIND_ENUM | KIND_FUNC_PROTO => vlen * 8,
        other => return Err(PruneError::UnsupportedKind(other)),
    })
}

/// Streams the string section and returns the offsets at which one of the
/// `wanted` names starts. Suffixes are checked too, in case a producer shares
/// the tail of a longer string.
fn scan_strings<R: Read>(r: &mut R, str_len: u32, wanted: &[&[u8]]) -> Result<HashSet<u32>, PruneError> {
    let mut rd = BufReader::with_capacity(READ_BUF_LEN, r.take(u64::from(str_len)));
    let mut found = HashSet::new();
    // The tail (at most MAX_NAME_LEN bytes) of a string begun in an earlier buffer.
    let mut carry = Vec::new();
    let mut pos: usize = 0;
    // The wanted names by their last two bytes: most strings end otherwise
    // and are passed over with one lookup, without a comparison.
    let tail = |s: &[u8]| match s {
        [.., a, b] => Some(usize::from(*a) << 8 | usize::from(*b)),
        _ => None,
    };
    let mut by_tail: HashMap<usize, Vec<&[u8]>> = HashMap::new();
    let mut short = Vec::new();
    for &name in wanted {
        match tail(name) {
            Some(t) => by_tail.entry(t).or_default().push(name),
            None => short.push(name),
        }
    }
    let mut last = vec![false; 1 << 16];
    for &t in by_tail.keys() {
        last[t] = true;
    }
    loop {
        let buf = rd.fill_buf().map_err(read_err)?;
        if buf.is_empty() {
            break;
        }
        let len = buf.len();
        let mut from = 0;
        while let Some(nul) = memchr::memchr(0, &buf[from..]) {
            let s = if carry.is_empty() {
                &buf[from..from + nul]
            } else {
                carry.extend_from_slice(&buf[from..from + nul]);
                &carry[..]
            };
            let end = pos + from + nul; // stream offset of this NUL
            let t = tail(s).filter(|&t| last[t]);
            let candidates = t.and_then(|t| by_tail.get(&t)).into_iter().flatten().chain(&short);
            for name in candidates {
                if s.ends_with(name) {
                    let at = end - name.len();
                    found.insert(u32::try_from(at).map_err(|_| PruneError::TooLarge)?);
                }
            }
            carry.clear();
            from += nul + 1;
        }
        carry.extend_from_slice(&buf[from..]);
        if carry.len() > MAX_NAME_LEN {
            carry.drain(..carry.len() - MAX_NAME_LEN);
        }
        pos += len;
        rd.consume(len);
    }
    if pos != str_len as usize {
        return Err(PruneError::Truncated);
    }
    Ok(found)
}

/// Streams the type section once. Returns the byte offset of every type by id
/// (index 0 is `void`, which has no record) and the ids of the STRUCT/UNION
/// types whose name offset is in `names`.
fn index_types<R: Read>(r: &mut R, type_len: u32, names: &HashSet<u32>) -> Result<(Vec<u32>, Vec<u32>), PruneError> {
    let mut rd = BufReader::with_capacity(READ_BUF_LEN, r);
    let mut offsets = vec![0u32];
    let mut roots = Vec::new();
    let mut pos: u32 = 0;
    while pos < type_len {
        let mut head = [0u8; TYPE_HEAD_LEN];
        rd.read_exact(&mut head).map_err(read_err)?;
        let [name_off, info, _] = head_words(head);
        let kind = kind_of(info);
        let extra = extra_len(kind, vlen_of(info))?;
        let end = u64::from(pos) + (TYPE_HEAD_LEN + extra) as u64;
        let end = u32::try_from(end).ok().filter(|&e| e <= type_len).ok_or(PruneError::Truncated)?;
        let id = u32::try_from(offsets.len()).map_err(|_| PruneError::TooLarge)?;
        if matches!(kind, KIND_STRUCT | KIND_UNION) && names.contains(&name_off) {
            roots.push(id);
        }
        offsets.push(pos);
        skip(&mut rd, extra)?;
        pos = end;
    }
    Ok((offsets, roots))
}

/// Consumes `n` bytes of `rd` by reading through them: cheaper than a seek on
/// sysfs, which hands out at most a page per read anyway.
fn skip<B: BufRead>(rd: &mut B, mut n: usize) -> Result<(), PruneError> {
    while n > 0 {
        let got = rd.fill_buf().map_err(read_err)?.len().min(n);
        if got == 0 {
            return Err(PruneError::Truncated);
        }
        rd.consume(got);
        n -= got;
    }
    Ok(())
}

/// One type record read back by id.
struct RawType {
    name_off: u32,
    info: u32,
    /// The third head word: a size or a type id, depending on the kind.
    size_type: u32,
    /// The kind-specific words after the head.
    extra: Vec<u32>,
}

/// Random access into the input, by type id or string offset.
struct Source<R> {
    r: R,
    hdr: Header,
    offsets: Vec<u32>,
}

impl<R: Read + Seek> Source<R> {
    fn read_type(&mut self, id: u32) -> Result<RawType, PruneError> {
        let off = match self.offsets.get(id as usize) {
            Some(&off) if id != 0 => off,
            _ => return Err(PruneError::BadTypeId(id)),
        };
        let at = self.hdr.type_base() + u64::from(off);
        self.r.seek(SeekFrom::Start(at)).map_err(read_err)?;
        let mut head = [0u8; TYPE_HEAD_LEN];
        self.r.read_exact(&mut head).map_err(read_err)?;
        let [name_off, info, size_type] = head_words(head);
        let mut extra = vec![0u8; extra_len(kind_of(info), vlen_of(info))?];
        self.r.read_exact(&mut extra).map_err(read_err)?;
        Ok(RawType { name_off, info, size_type, extra: words(&extra) })
    }

    /// The NUL-terminated string at `off` in the string section, without the NUL.
    fn read_str(&mut self, off: u32) -> Result<Vec<u8>, PruneError> {
        if off >= self.hdr.str_len {
            return Err(PruneError::BadString(off));
        }
        let left = (self.hdr.str_len - off) as usize;
        self.r.seek(SeekFrom::Start(self.hdr.str_base() + u64::from(off))).map_err(read_err)?;
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        while out.len() < left.min(MAX_NAME_LEN) {
            let want = chunk.len().min(left - out.len());
            let n = self.r.read(&mut chunk[..want]).map_err(read_err)?;
            if n == 0 {
                return Err(PruneError::Truncated);
            }
            if let Some(nul) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
        }
        Err(PruneError::BadString(off))
    }
}

/// Builds the output: types in emission order (output id = index + 1).
struct Pruner<R> {
    src: Source<R>,
    /// Source ids copied with all members: the requested roots.
    full: HashSet<u32>,
    types: Vec<Vec<u32>>,
    strings: Vec<u8>,
    /// Source string offset -> output string offset.
    names: HashMap<u32, u32>,
    /// Source type id -> output type id.
    memo: HashMap<u32, u32>,
}

impl<R: Read + Seek> Pruner<R> {
    /// Emits source type `id` in its pruned form and returns its output id.
    fn emit(&mut self, id: u32, depth: u32) -> Result<u32, PruneError> {
        if id == 0 {
            return Ok(0);
        }
        if let Some(&out) = self.memo.get(&id) {
            return Ok(out);
        }
        if depth > MAX_DEPTH {
            return Err(PruneError::TooDeep(id));
        }
        let t = self.src.read_type(id)?;
        let kind = kind_of(t.info);
        let record = match kind {
            KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                // aya resolves through these before comparing, so drop them.
                let out = self.emit(t.size_type, depth + 1)?;
                self.memo.insert(id, out);
                return Ok(out);
            }
            KIND_INT => {
                let mut w = vec![self.name(t.name_off)?, t.info, t.size_type];
                w.extend_from_slice(&t.extra);
                w
            }
            // Any pointer matches any pointer in aya's field compatibility.
            KIND_PTR => vec![0, t.info, 0],
            KIND_ARRAY => {
                let [elem, index, nelems] = t.extra[..] else {
                    return Err(PruneError::Truncated);
                };
                let elem = self.emit(elem, depth + 1)?;
                let index = self.emit(index, depth + 1)?;
                vec![0, t.info, 0, elem, index, nelems]
            }
            KIND_STRUCT | KIND_UNION if t.name_off == 0 || self.full.contains(&id) => {
                let mut w = vec![self.name(t.name_off)?, t.info, t.size_type];
                for m in t.extra.chunks_exact(3) {
                    let &[m_name, m_type, m_offset] = m else { continue };
                    w.push(self.name(m_name)?);
                    w.push(self.emit(m_type, depth + 1)?);
                    w.push(m_offset);
                }
                w
            }
            KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 => {
                vec![self.name(t.name_off)?, t.info & !VLEN_MASK, t.size_type]
            }
            KIND_FWD => vec![self.name(t.name_off)?, t.info, 0],
            KIND_FLOAT => vec![self.name(t.name_off)?, t.info, t.size_type],
            _ => return Err(PruneError::UnexpectedMemberKind { id, kind }),
        };
        self.types.push(record);
        let out = u32::try_from(self.types.len()).map_err(|_| PruneError::TooLarge)?;
        self.memo.insert(id, out);
        Ok(out)
    }

    /// Copies the source string at `off` into the output string table.
    fn name(&mut self, off: u32) -> Result<u32, PruneError> {
        if off == 0 {
            return Ok(0);
        }
        if let Some(&out) = self.names.get(&off) {
            return Ok(out);
        }
        let s = self.src.read_str(off)?;
        let out = u32::try_from(self.strings.len()).map_err(|_| PruneError::TooLarge)?;
        self.strings.extend_from_slice(&s);
        self.strings.push(0);
        self.names.insert(off, out);
        Ok(out)
    }

    /// Serializes header, types and strings into one native-endian blob.
    fn finish(self) -> Result<Vec<u8>, PruneError> {
        let type_words: usize = self.types.iter().map(Vec::len).sum();
        let too_large = |_| PruneError::TooLarge;
        let type_len = u32::try_from(type_words * 4).map_err(too_large)?;
        let str_len = u32::try_from(self.strings.len()).map_err(too_large)?;
        let total = HEADER_LEN as usize + type_words * 4 + self.strings.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&BTF_MAGIC.to_ne_bytes());
        out.extend_from_slice(&[BTF_VERSION, 0]);
        for w in [HEADER_LEN, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&w.to_ne_bytes());
        }
        for w in self.types.iter().flatten() {
            out.extend_from_slice(&w.to_ne_bytes());
        }
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Cursor;

    /// Builds small native-endian BTF blobs by hand.
    struct Writer {
        types: Vec<u32>,
        strings: Vec<u8>,
        count: u32,
    }

    impl Writer {
        fn new() -> Self {
            Self { types: Vec::new(), strings: vec![0], count: 0 }
        }
        fn str(&mut self, s: &str) -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }
        fn push(&mut self, w: &[u32]) -> u32 {
            self.types.extend_from_slice(w);
            self.count += 1;
            self.count
        }
        fn int(&mut self, name: &str, size: u32, bits: u32, signed: bool) -> u32 {
            let n = self.str(name);
            self.push(&[n, KIND_INT << 24, size, u32::from(signed) << 24 | bits])
        }
        fn wrap(&mut self, kind: u32, name: &str, to: u32) -> u32 {
            let n = self.str(name);
            self.push(&[n, kind << 24, to])
        }
        fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
            self.push(&[0, KIND_ARRAY << 24, 0, elem, index, n])
        }
        fn composite(
            &mut self,
            kind: u32,
            name: &str,
            size: u32,
            bitfields: bool,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let mut w = vec![self.str(name), kind << 24 | u32::from(bitfields) << 31 | members.len() as u32, size];
            for &(m, ty, off) in members {
                w.extend([self.str(m), ty, off]);
            }
            self.push(&w)
        }
        fn enumeration(&mut self, name: &str, vals: &[&str]) -> u32 {
            let mut w = vec![self.str(name), KIND_ENUM << 24 | vals.len() as u32, 4];
            for (i, v) in vals.iter().enumerate() {
                w.extend([self.str(v), i as u32]);
            }
            self.push(&w)
        }
        fn finish(&self) -> Vec<u8> {
            let type_len = self.types.len() as u32 * 4;
            let mut out = BTF_MAGIC.to_ne_bytes().to_vec();
            out.extend([BTF_VERSION, 0]);
            for w in [HEADER_LEN, 0, type_len, type_len, self.strings.len() as u32] {
                out.extend(w.to_ne_bytes());
            }
            for w in &self.types {
                out.extend(w.to_ne_bytes());
            }
            out.extend(&self.strings);
            out
        }
    }

    /// What a walk through a struct finds about one (possibly nested) field.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    struct Field {
        bit_offset: u32,
        bitfield_size: u32,
        kind: u32,
        size: u32,
    }

    /// An independent in-memory BTF reader, to check the pruned output against.
    struct Mem<'a> {
        strings: &'a [u8],
        /// (name_off, info, size_type, extra words) by id; index 0 is void.
        types: Vec<(u32, u32, u32, Vec<u32>)>,
    }

    impl<'a> Mem<'a> {
        fn parse(blob: &'a [u8]) -> Self {
            let w = words(&blob[4..24]);
            let (hdr_len, type_off, type_len, str_off, str_len) = (w[0], w[1], w[2], w[3], w[4]);
            let ts = &blob[(hdr_len + type_off) as usize..][..type_len as usize];
            let strings = &blob[(hdr_len + str_off) as usize..][..str_len as usize];
            let mut types = vec![(0, 0, 0, Vec::new())];
            let mut pos = 0;
            while pos < ts.len() {
                let h = words(&ts[pos..pos + 12]);
                let extra = extra_len(kind_of(h[1]), vlen_of(h[1])).unwrap();
                types.push((h[0], h[1], h[2], words(&ts[pos + 12..pos + 12 + extra])));
                pos += 12 + extra;
            }
            Self { strings, types }
        }
        fn name(&self, off: u32) -> &str {
            let s = &self.strings[off as usize..];
            std::str::from_utf8(&s[..s.iter().position(|&b| b == 0).unwrap()]).unwrap()
        }
        fn resolve(&self, mut id: u32) -> u32 {
            while id != 0
                && matches!(
                    kind_of(self.types[id as usize].1),
                    KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                )
            {
                id = self.types[id as usize].2;
            }
            id
        }
        fn size(&self, id: u32) -> u32 {
            let id = self.resolve(id);
            let (_, info, size, extra) = &self.types[id as usize];
            match kind_of(*info) {
                KIND_PTR => 8,
                KIND_ARRAY => extra[2] * self.size(extra[0]),
                KIND_FWD | 0 => 0,
                _ => *size,
            }
        }
        fn structs_named(&self, name: &str) -> Vec<u32> {
            (1..self.types.len() as u32)
                .filter(|&id| {
                    let (n, info, ..) = self.types[id as usize];
                    matches!(kind_of(info), KIND_STRUCT | KIND_UNION) && self.name(n) == name
                })
                .collect()
        }
        /// Every named field reachable from struct `id` through anonymous
        /// members, first occurrence wins (as in aya's `match_member`).
        fn fields(&self, id: u32, base: u32, out: &mut BTreeMap<String, Field>) {
            let (_, info, _, extra) = &self.types[self.resolve(id) as usize];
            if !matches!(kind_of(*info), KIND_STRUCT | KIND_UNION) {
                return;
            }
            let bitfields = info >> 31 == 1;
            for m in extra.chunks_exact(3) {
                let (bit_offset, bitfield_size) = if bitfields { (m[2] & 0xff_ffff, m[2] >> 24) } else { (m[2], 0) };
                let ty = self.resolve(m[1]);
                if m[0] == 0 {
                    self.fields(ty, base + bit_offset, out);
                    continue;
                }
                let field = Field {
                    bit_offset: base + bit_offset,
                    bitfield_size,
                    kind: kind_of(self.types[ty as usize].1),
                    size: self.size(ty),
                };
                out.entry(self.name(m[0]).to_owned()).or_insert(field);
            }
        }
        fn fields_of(&self, name: &str) -> Vec<BTreeMap<String, Field>> {
            self.structs_named(name)
                .into_iter()
                .map(|id| {
                    let mut out = BTreeMap::new();
                    self.fields(id, 0, &mut out);
                    out
                })
                .collect()
        }
    }

    fn parses_in_aya(blob: &[u8]) {
        aya::Btf::parse(blob, aya::Endianness::default()).expect("aya rejects the pruned BTF");
    }

    /// struct task { int pid; union { long a; struct other *p; };
    ///               unsigned flags:3, busy:1; struct other o; const char comm[16];
    ///               enum state st; struct fwd *f; };
    /// plus unrelated types, and a name sharing its tail with another string.
    fn sample() -> Vec<u8> {
        let mut w = Writer::new();
        let int = w.int("int", 4, 32, true);
        let uint = w.int("unsigned int", 4, 32, false);
        let long = w.int("long", 8, 64, true);
        let chr = w.int("char", 1, 8, true);
        let pid_t = w.wrap(KIND_TYPEDEF, "pid_t", int);
        let other = w.composite(KIND_STRUCT, "other", 24, false, &[("x", long, 0), ("y", long, 64), ("z", long, 128)]);
        let other_ptr = w.wrap(KIND_PTR, "", other);
        let anon = w.composite(KIND_UNION, "", 8, false, &[("a", long, 0), ("p", other_ptr, 0)]);
        let cchr = w.wrap(KIND_CONST, "", chr);
        let comm = w.array(cchr, int, 16);
        let state = w.enumeration("state", &["RUNNING", "SLEEPING"]);
        let fwd = w.wrap(KIND_FWD, "fwd", 0);
        let fwd_ptr = w.wrap(KIND_PTR, "", fwd);
        let _unrelated = w.composite(KIND_STRUCT, "unrelated", 8, false, &[("q", long, 0)]);
        let _tail = w.str("my_task"); // "task" below may reuse this tail
        let members = [
            ("pid", pid_t, 0),
            ("", anon, 64),
            ("flags", uint, 3 << 24 | 128),
            ("busy", uint, 1 << 24 | 131),
            ("o", other, 192),
            ("comm", comm, 384),
            ("st", state, 512),
            ("f", fwd_ptr, 576),
        ];
        let task = w.composite(KIND_STRUCT, "task", 80, true, &members);
        // Point the struct's name at the "task" tail of "my_task".
        let name_word = w.types.len() - 3 * members.len() - 3;
        w.types[name_word] = _tail + 3;
        assert_eq!(task, w.count);
        w.finish()
    }

    #[test]
    fn keeps_offsets_through_anonymous_union_and_bitfields() {
        let input = sample();
        let out = prune_reader(Cursor::new(&input), &["task", "absent"]).unwrap();
        parses_in_aya(&out);
        let (full, small) = (Mem::parse(&input), Mem::parse(&out));
        let want = full.fields_of("task");
        assert_eq!(want.len(), 1);
        assert_eq!(want, small.fields_of("task"));
        let f = &want[0];
        for name in ["pid", "a", "p", "flags", "busy", "o", "comm", "st", "f"] {
            assert!(f.contains_key(name), "{name} missing from {f:?}");
        }
        assert_eq!(f["p"].bit_offset, 64);
        assert_eq!((f["busy"].bit_offset, f["busy"].bitfield_size), (131, 1));
        // Named non-requested composites are stubs of the right size.
        let other = small.structs_named("other");
        assert_eq!(other.len(), 1);
        assert_eq!(small.size(other[0]), 24);
        assert_eq!(vlen_of(small.types[other[0] as usize].1), 0);
        assert!(small.structs_named("unrelated").is_empty());
        assert!(out.len() < input.len());
    }

    #[test]
    fn missing_name_yields_no_types() {
        let out = prune_reader(Cursor::new(sample()), &["nope", ""]).unwrap();
        parses_in_aya(&out);
        assert_eq!(Mem::parse(&out).types.len(), 1); // just void
    }

    #[test]
    fn flavor_suffix_is_ignored() {
        let out = prune_reader(Cursor::new(sample()), &["task___v2"]).unwrap();
        assert_eq!(Mem::parse(&out).structs_named("task").len(), 1);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let input = sample();
        for len in 0..input.len() {
            let r = prune_reader(Cursor::new(&input[..len]), &["task"]);
            assert!(r.is_err(), "prefix of {len} bytes accepted");
        }
        assert!(matches!(
            prune_reader(Cursor::new(b"garbage, not BTF at all!"), &["task"]),
            Err(PruneError::BadMagic(_))
        ));
        let mut swapped = input.clone();
        swapped.swap(0, 1);
        assert!(matches!(prune_reader(Cursor::new(&swapped), &["task"]), Err(PruneError::ForeignEndian)));
        // Flip bits everywhere: any output we do produce must still parse.
        for i in 0..input.len() {
            for bits in [0x01, 0x80, 0xff] {
                let mut bad = input.clone();
                bad[i] ^= bits;
                if let Ok(out) = prune_reader(Cursor::new(&bad), &["task", "other"]) {
                    parses_in_aya(&out);
                }
            }
        }
    }

    #[test]
    fn self_containing_anonymous_struct_is_too_deep() {
        let mut w = Writer::new();
        let int = w.int("int", 4, 32, true);
        let anon_id = w.count + 1;
        w.composite(KIND_STRUCT, "", 4, false, &[("", anon_id, 0)]);
        w.composite(KIND_STRUCT, "loop", 4, false, &[("i", int, 0), ("", anon_id, 0)]);
        let r = prune_reader(Cursor::new(w.finish()), &["loop"]);
        assert!(matches!(r, Err(PruneError::TooDeep(_))), "{r:?}");
    }

    #[test]
    fn io_errors_name_the_path() {
        let err = prune_file(Path::new("/nonexistent/btf"), &["task"]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/btf"), "{err}");
    }

    /// Against the running kernel: every field reachable in each requested
    /// struct (through anonymous members) has the same offset, bitfield size,
    /// kind and size in the pruned BTF as in the full one.
    #[test]
    #[ignore = "needs the running kernel's BTF (/sys/kernel/btf/vmlinux): run with --include-ignored"]
    fn vmlinux_fields_match_full_btf() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        assert!(path.exists(), "{} is absent: this kernel has no BTF", path.display());
        let full_bytes = std::fs::read(path).unwrap();
        let full = Mem::parse(&full_bytes);
        let used: &[(&str, &[&str])] = &[
            ("task_struct", &["pid", "tgid", "real_parent", "mm", "comm"]),
            ("mm_struct", &["arg_start", "arg_end"]),
            ("linux_binprm", &["filename", "interp"]),
        ];
        let later = [
            "task_struct",
            "mm_struct",
            "linux_binprm",
            "signal_struct",
            "file",
            "path",
            "dentry",
            "qstr",
            "cgroup",
            "kernfs_node",
            "css_set",
            "task_cputime",
        ];
        let now: Vec<&str> = used.iter().map(|(s, _)| *s).collect();
        for names in [&now[..], &later[..]] {
            let start = std::time::Instant::now();
            let out = prune_file(path, names).unwrap();
            eprintln!("pruned {} structs to {} bytes in {:?}", names.len(), out.len(), start.elapsed());
            assert!(out.len() < 64 * 1024, "pruned BTF is {} bytes", out.len());
            parses_in_aya(&out);
            // prune_file maps the file where the kernel allows it (6.16+);
            // streaming it gives the same blob.
            let streamed = prune_reader(File::open(path).unwrap(), names).unwrap();
            assert!(out == streamed, "mapped and streamed prunes differ");
            let small = Mem::parse(&out);
            for name in names {
                let want = full.fields_of(name);
                assert!(!want.is_empty(), "{name} not in vmlinux BTF");
                assert_eq!(want, small.fields_of(name), "{name}");
            }
            // The fields execsnoop reads (mm_struct's sit in an anonymous member).
            for (name, fields) in used {
                let got = &small.fields_of(name)[0];
                for f in *fields {
                    assert!(got.contains_key(*f), "{name}.{f} not found");
                }
            }
        }
    }
}
