//! The `LC_UUID` of a Mach-O executable (macOS): a 128-bit identity that Apple's linkers derive
//! from the output's contents.

use std::io::{self, Read, Seek, SeekFrom};

const MH_MAGIC_64: u32 = 0xfeed_facf;
const FAT_MAGIC: u32 = 0xcafe_babe;
const FAT_MAGIC_64: u32 = 0xcafe_babf;
const LC_UUID: u32 = 0x1b;
/// A universal file with more slices than this is something else sharing the magic (a Java
/// class file starts with `cafebabe` too, followed by its version, which reads as 45 or more).
const MAX_SLICES: u32 = 16;
/// Load commands larger than this are not an executable's.
const MAX_COMMANDS_SIZE: u32 = 1 << 20;

/// The `LC_UUID` of a 64-bit little-endian Mach-O file, or of each slice of a universal
/// ("fat") file in slice order; `None` for any other file, a truncated one, or one in which some
/// slice has no `LC_UUID`.
pub(super) fn lc_uuid<F: Read + Seek>(file: &mut F) -> io::Result<Option<Vec<u8>>> {
    let mut magic = [0u8; 8];
    file.seek(SeekFrom::Start(0))?;
    if file.read_exact(&mut magic).is_err() {
        return Ok(None);
    }
    if u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]) == MH_MAGIC_64 {
        return Ok(thin_uuid(file, 0)?.map(|uuid| uuid.to_vec()));
    }
    // Universal headers are big-endian whatever the slices are.
    let fat = u32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]);
    let slices = u32::from_be_bytes([magic[4], magic[5], magic[6], magic[7]]);
    let entry_len = match fat {
        FAT_MAGIC => 20,
        FAT_MAGIC_64 => 32,
        _ => return Ok(None),
    };
    if slices == 0 || slices > MAX_SLICES {
        return Ok(None);
    }
    let mut entries = vec![0u8; entry_len * slices as usize];
    if file.read_exact(&mut entries).is_err() {
        return Ok(None);
    }
    let mut ids = Vec::with_capacity(16 * slices as usize);
    for entry in entries.chunks_exact(entry_len) {
        // cputype, cpusubtype, then the slice's offset: 32 bits in `fat_arch`, 64 in
        // `fat_arch_64`.
        let offset = if fat == FAT_MAGIC {
            u64::from(be_u32(entry, 8))
        } else {
            (u64::from(be_u32(entry, 8)) << 32) | u64::from(be_u32(entry, 12))
        };
        match thin_uuid(file, offset)? {
            Some(uuid) => ids.extend_from_slice(&uuid),
            None => return Ok(None),
        }
    }
    Ok(Some(ids))
}

/// The `LC_UUID` of the 64-bit little-endian Mach-O image at `base`.
fn thin_uuid<F: Read + Seek>(file: &mut F, base: u64) -> io::Result<Option<[u8; 16]>> {
    // mach_header_64: magic, cputype, cpusubtype, filetype, ncmds, sizeofcmds, flags, reserved.
    let mut header = [0u8; 32];
    file.seek(SeekFrom::Start(base))?;
    if file.read_exact(&mut header).is_err() || le_u32(&header, 0) != MH_MAGIC_64 {
        return Ok(None);
    }
    let count = le_u32(&header, 16);
    let size = le_u32(&header, 20);
    if size > MAX_COMMANDS_SIZE {
        return Ok(None);
    }
    let mut commands = vec![0u8; size as usize];
    if file.read_exact(&mut commands).is_err() {
        return Ok(None);
    }
    let mut at = 0usize;
    for _ in 0..count {
        // load_command: cmd, cmdsize (which includes these 8 bytes).
        if at + 8 > commands.len() {
            return Ok(None);
        }
        let (cmd, len) = (le_u32(&commands, at), le_u32(&commands, at + 4) as usize);
        if len < 8 || at.checked_add(len).is_none_or(|end| end > commands.len()) {
            return Ok(None);
        }
        if cmd == LC_UUID && len >= 24 {
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&commands[at + 8..at + 24]);
            return Ok(Some(uuid));
        }
        at += len;
    }
    Ok(None)
}

fn le_u32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn be_u32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const LC_SEGMENT_64: u32 = 0x19;

    /// A thin arm64 executable header with one empty `LC_SEGMENT_64` and, if given, an
    /// `LC_UUID`.
    fn thin(uuid: Option<[u8; 16]>) -> Vec<u8> {
        let mut commands = Vec::new();
        commands.extend_from_slice(&LC_SEGMENT_64.to_le_bytes());
        commands.extend_from_slice(&72u32.to_le_bytes());
        commands.resize(72, 0);
        if let Some(uuid) = uuid {
            commands.extend_from_slice(&LC_UUID.to_le_bytes());
            commands.extend_from_slice(&24u32.to_le_bytes());
            commands.extend_from_slice(&uuid);
        }
        let count: u32 = if uuid.is_some() { 2 } else { 1 };
        let mut file = Vec::new();
        for word in [
            MH_MAGIC_64,
            0x0100_000c,
            0,
            2,
            count,
            commands.len() as u32,
            0,
            0,
        ] {
            file.extend_from_slice(&word.to_le_bytes());
        }
        file.extend_from_slice(&commands);
        file
    }

    /// A universal file holding `slices`, each at a 4 KiB boundary.
    fn fat(magic: u32, slices: &[Vec<u8>]) -> Vec<u8> {
        let entry_len = if magic == FAT_MAGIC { 20 } else { 32 };
        let mut file = Vec::new();
        file.extend_from_slice(&magic.to_be_bytes());
        file.extend_from_slice(&(slices.len() as u32).to_be_bytes());
        let mut offset = 4096u64;
        for slice in slices {
            let mut entry = vec![0u8; entry_len];
            if magic == FAT_MAGIC {
                entry[8..12].copy_from_slice(&(offset as u32).to_be_bytes());
                entry[12..16].copy_from_slice(&(slice.len() as u32).to_be_bytes());
            } else {
                entry[8..16].copy_from_slice(&offset.to_be_bytes());
                entry[16..24].copy_from_slice(&(slice.len() as u64).to_be_bytes());
            }
            file.extend_from_slice(&entry);
            offset += 4096;
        }
        for slice in slices {
            file.resize(file.len().next_multiple_of(4096), 0);
            file.extend_from_slice(slice);
        }
        file
    }

    fn read(bytes: &[u8]) -> Option<Vec<u8>> {
        lc_uuid(&mut Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn a_thin_executable_is_named_by_its_uuid() {
        let uuid = *b"0123456789abcdef";
        assert_eq!(read(&thin(Some(uuid))), Some(uuid.to_vec()));
    }

    #[test]
    fn a_universal_executable_is_named_by_every_slice_uuid_in_order() {
        let (a, b) = (*b"aaaaaaaaaaaaaaaa", *b"bbbbbbbbbbbbbbbb");
        let both = [thin(Some(a)), thin(Some(b))];
        for magic in [FAT_MAGIC, FAT_MAGIC_64] {
            assert_eq!(
                read(&fat(magic, &both)),
                Some([a, b].concat()),
                "{magic:#x}"
            );
        }
    }

    #[test]
    fn files_without_a_uuid_have_none() {
        assert_eq!(read(&thin(None)), None);
        let one_missing = [thin(Some(*b"aaaaaaaaaaaaaaaa")), thin(None)];
        assert_eq!(read(&fat(FAT_MAGIC, &one_missing)), None);
        assert_eq!(read(b"\x7fELF not mach-o"), None);
        assert_eq!(read(b""), None);
        // A Java class file: cafebabe, then minor 0 and major 65 read as 65 slices.
        assert_eq!(read(b"\xca\xfe\xba\xbe\x00\x00\x00\x41 and the rest"), None);
    }

    #[test]
    fn every_truncation_and_corrupted_length_is_refused_without_panicking() {
        let whole = thin(Some(*b"0123456789abcdef"));
        for len in 0..whole.len() {
            assert_eq!(read(&whole[..len]), None, "truncated to {len}");
        }
        // cmdsize values that are too small, run past the commands, or wrap.
        for bad in [0u32, 7, 73, u32::MAX] {
            let mut file = whole.clone();
            file[36..40].copy_from_slice(&bad.to_le_bytes());
            assert_eq!(read(&file), None, "cmdsize {bad}");
        }
        // A slice offset past the end of the file.
        let mut file = fat(FAT_MAGIC, &[whole]);
        file[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(read(&file), None);
    }
}
