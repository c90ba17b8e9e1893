//! Filesystem side of the CLI (the embedded default: the filesystem stands in for S3).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A bounded read of one input.
#[derive(Debug)]
pub struct Input {
    /// At most `limit + 1` bytes of the file.
    pub bytes: Vec<u8>,
    /// The file's permission bits (the output is never more open than its input).
    pub mode: u32,
    /// The size the filesystem states, for the record of a file over the limit only: the read
    /// itself never trusts it.
    pub stated_len: u64,
}

/// Reads at most `limit + 1` bytes, so "exactly the limit" and "more than the limit" can be
/// told apart without trusting the file's stated length (a FIFO or a growing file has none).
///
/// The file is opened with `O_NONBLOCK`, so opening a FIFO never waits for a writer, and a
/// FIFO or socket is then refused: only regular files and devices are read (a FIFO whose
/// writer never writes would hold the run forever).
pub fn read_bounded(path: &Path, limit: usize) -> io::Result<Input> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        ));
    }
    if kind.is_fifo() || kind.is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a FIFO or socket: only regular files and devices are read",
        ));
    }
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(cap)).unwrap_or(0));
    file.take(cap).read_to_end(&mut bytes)?;
    Ok(Input {
        bytes,
        mode: meta.permissions().mode(),
        stated_len: meta.len(),
    })
}

/// The directory an output goes into (`.` for a bare file name) and its file name.
fn dir_and_name(path: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name")
    })?;
    Ok((dir, name))
}

/// How many temporary names `write_atomic` tries before it gives up (each is taken only if
/// nothing, not even a dangling symlink, exists under it).
const TMP_NAME_ATTEMPTS: u32 = 64;

/// Writes through a temporary file in the same directory and renames it into place, so a
/// reader never sees half an image and a crash leaves no partial output under the real name.
///
/// The temporary file is created with `O_CREAT | O_EXCL` (`create_new`), which never follows a
/// symlink and never opens an existing file: someone who can write to the output directory
/// cannot plant a link under the temporary name to make us overwrite another file. The rename
/// then replaces the directory entry `path` itself (a symlink there is replaced, its target
/// left alone). The output's permissions are the input's, without execute or group/other
/// write bits (`input_mode & 0o644`): a private photo does not come out world-readable.
pub fn write_atomic(path: &Path, bytes: &[u8], input_mode: u32) -> io::Result<()> {
    let (dir, name) = dir_and_name(path)?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut attempt = 0u32;
    let (tmp, mut file): (PathBuf, File) = loop {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{nonce:08x}-{attempt}", std::process::id()));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                attempt = attempt.saturating_add(1);
                if attempt >= TMP_NAME_ATTEMPTS {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("no free temporary name for {}", path.display()),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        file.write_all(bytes)?;
        file.set_permissions(std::fs::Permissions::from_mode(input_mode & 0o644))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file's identity: device and inode, the same whatever path, link or mount reaches it.
pub type FileId = (u64, u64);

/// The identity of the file at `path` (following symlinks), or `None` when nothing is there.
/// Any other error is returned: a caller that must not overwrite an input fails closed on it.
pub fn file_id(path: &Path) -> io::Result<Option<FileId>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The directory entry an output will be renamed onto: its directory's identity and the file
/// name. Two outputs with the same entry would overwrite each other.
pub fn entry_id(path: &Path) -> io::Result<(FileId, std::ffi::OsString)> {
    let (dir, name) = dir_and_name(path)?;
    let m = std::fs::metadata(dir)?;
    Ok(((m.dev(), m.ino()), name.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "tests: a failure should be loud"
    )]
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ip-local-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_symlink_at_the_output_path_is_replaced_not_followed() {
        let d = tmpdir("symlink");
        let victim = d.join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        // A link at the real output path is replaced by the rename, never written through.
        // (The temporary name carries the pid and a nonce and is opened with create_new, so a
        // link planted there makes the open fail instead: see write_atomic.)
        let out = d.join("out.jpg");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        write_atomic(&out, b"new image", 0o644).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&out).unwrap(), b"new image");
        assert!(!std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_output_is_never_more_open_than_its_input() {
        let d = tmpdir("mode");
        let out = d.join("private.png");
        write_atomic(&out, b"x", 0o100_600).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let out2 = d.join("public.png");
        write_atomic(&out2, b"x", 0o100_777).unwrap();
        let mode = std::fs::metadata(&out2).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
