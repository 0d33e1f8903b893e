//! The GNU build id of an ELF executable (Linux, FreeBSD): a hash of the contents that the
//! linker writes into an `NT_GNU_BUILD_ID` note.

use std::io::{self, Read, Seek, SeekFrom};

/// The `NT_GNU_BUILD_ID` note of a 64-bit little-endian ELF file, read from its program
/// headers with plain bounds-checked parsing; `None` for any other file.
pub(super) fn gnu_build_id<F: Read + Seek>(file: &mut F) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 64];
    file.seek(SeekFrom::Start(0))?;
    if file.read_exact(&mut header).is_err() {
        return Ok(None);
    }
    // ELF magic, 64-bit, little-endian.
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Ok(None);
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |b: &[u8], i: usize| {
        let mut a = [0; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let phoff = u64_at(&header, 0x20);
    let phentsize = u16_at(&header, 0x36);
    let phnum = u16_at(&header, 0x38);
    if phentsize < 56 || phnum > 512 {
        return Ok(None);
    }
    let mut phdrs = vec![0u8; phentsize * phnum];
    file.seek(SeekFrom::Start(phoff))?;
    if file.read_exact(&mut phdrs).is_err() {
        return Ok(None);
    }
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    for ph in phdrs.chunks_exact(phentsize) {
        if u32_at(ph, 0) != PT_NOTE {
            continue;
        }
        let (offset, size) = (u64_at(ph, 8), u64_at(ph, 32));
        if size > 1 << 16 {
            continue;
        }
        let mut notes = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset))?;
        if file.read_exact(&mut notes).is_err() {
            continue;
        }
        let mut i = 0;
        while i + 12 <= notes.len() {
            let namesz = u32_at(&notes, i) as usize;
            let descsz = u32_at(&notes, i + 4) as usize;
            let kind = u32_at(&notes, i + 8);
            let name_at = i + 12;
            let desc_at = name_at + namesz.div_ceil(4) * 4;
            let next = desc_at + descsz.div_ceil(4) * 4;
            if next > notes.len() {
                break;
            }
            if kind == NT_GNU_BUILD_ID && notes[name_at..name_at + namesz].starts_with(b"GNU") {
                return Ok(Some(notes[desc_at..desc_at + descsz].to_vec()));
            }
            i = next;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A 64-bit little-endian ELF header, one `PT_NOTE` program header, and a note segment
    /// holding an unrelated note followed by a GNU build id.
    fn elf_with(build_id: &[u8]) -> Vec<u8> {
        let mut notes = Vec::new();
        for (name, kind, desc) in [(&b"Xen\0"[..], 1u32, &b"abc"[..]), (b"GNU\0", 3, build_id)] {
            notes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            notes.extend_from_slice(&kind.to_le_bytes());
            notes.extend_from_slice(name);
            notes.extend_from_slice(desc);
            notes.resize(notes.len().next_multiple_of(4), 0);
        }
        let mut file = vec![0u8; 64];
        file[..6].copy_from_slice(b"\x7fELF\x02\x01");
        file[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        file[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        file[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let mut ph = vec![0u8; 56];
        ph[..4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        ph[8..16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        ph[32..40].copy_from_slice(&(notes.len() as u64).to_le_bytes()); // p_filesz
        file.extend_from_slice(&ph);
        file.extend_from_slice(&notes);
        file
    }

    fn read(bytes: &[u8]) -> Option<Vec<u8>> {
        gnu_build_id(&mut Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn the_gnu_note_is_found_among_others() {
        let id = b"0123456789abcdefghij";
        assert_eq!(read(&elf_with(id)), Some(id.to_vec()));
    }

    #[test]
    fn other_files_and_every_truncation_have_none() {
        assert_eq!(read(b"\xcf\xfa\xed\xfe not elf"), None);
        let whole = elf_with(b"0123456789abcdefghij");
        for len in 0..whole.len() {
            assert_eq!(read(&whole[..len]), None, "truncated to {len}");
        }
    }
}
