//! One bounds-checked reader for every binary format (wire frames, batch records, store
//! rows, snapshot, state-tree, proof and key files): a cursor over a byte slice whose
//! reads return [`ReadError`] on short input and whose [`Reader::finish`] refuses
//! trailing bytes. It never panics and never allocates: what it returns borrows from
//! the input. Each format maps [`ReadError`] into its own error type.

use crate::field::{Fe, fe_from_be_bytes};

/// Why a read failed; `at` is the offset of the read that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The input ends before the value read at `at`.
    #[error("input ends before the {needed} bytes read at offset {at}")]
    Short {
        /// Offset of the read.
        at: usize,
        /// Bytes it needed.
        needed: usize,
    },
    /// Bytes remain after the last value.
    #[error("trailing bytes from offset {at}")]
    Trailing {
        /// Offset of the first unread byte.
        at: usize,
    },
    /// A 32-byte field element at `at` is not below the modulus.
    #[error("field element at offset {at} is not below the modulus")]
    NonCanonical {
        /// Offset of the field element.
        at: usize,
    },
}

/// A cursor over `bytes`: each read advances past what it returned, or fails and
/// leaves the cursor where it was.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    #[inline(always)]
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Offset of the next read.
    #[inline(always)]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    #[inline(always)]
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `N` bytes.
    #[inline(always)]
    pub fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], ReadError> {
        let at = self.pos;
        let chunk = self.bytes[at..]
            .first_chunk::<N>()
            .ok_or(ReadError::Short { at, needed: N })?;
        self.pos = at + N;
        Ok(chunk)
    }

    /// The next `n` bytes.
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let at = self.pos;
        if n > self.remaining() {
            return Err(ReadError::Short { at, needed: n });
        }
        self.pos = at + n;
        Ok(&self.bytes[at..at + n])
    }

    /// One byte.
    #[inline(always)]
    pub fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian `u16`.
    #[inline(always)]
    pub fn u16_be(&mut self) -> Result<u16, ReadError> {
        Ok(u16::from_be_bytes(*self.array()?))
    }

    /// A big-endian `u32`.
    #[inline(always)]
    pub fn u32_be(&mut self) -> Result<u32, ReadError> {
        Ok(u32::from_be_bytes(*self.array()?))
    }

    /// A big-endian `i32`.
    #[inline(always)]
    pub fn i32_be(&mut self) -> Result<i32, ReadError> {
        Ok(i32::from_be_bytes(*self.array()?))
    }

    /// A big-endian `u64`.
    #[inline(always)]
    pub fn u64_be(&mut self) -> Result<u64, ReadError> {
        Ok(u64::from_be_bytes(*self.array()?))
    }

    /// A little-endian `u16`.
    #[inline(always)]
    pub fn u16_le(&mut self) -> Result<u16, ReadError> {
        Ok(u16::from_le_bytes(*self.array()?))
    }

    /// A little-endian `u32`.
    #[inline(always)]
    pub fn u32_le(&mut self) -> Result<u32, ReadError> {
        Ok(u32::from_le_bytes(*self.array()?))
    }

    /// A little-endian `u64`.
    #[inline(always)]
    pub fn u64_le(&mut self) -> Result<u64, ReadError> {
        Ok(u64::from_le_bytes(*self.array()?))
    }

    /// A field element as 32 big-endian bytes, below the modulus. On a non-canonical
    /// value the cursor stays before it.
    #[inline(always)]
    pub fn fe(&mut self) -> Result<Fe, ReadError> {
        let at = self.pos;
        let value = fe_from_be_bytes(self.array::<32>()?);
        value.map_err(|_| {
            self.pos = at;
            ReadError::NonCanonical { at }
        })
    }

    /// Succeeds if every byte was read.
    #[inline(always)]
    pub fn finish(&self) -> Result<(), ReadError> {
        match self.remaining() {
            0 => Ok(()),
            _ => Err(ReadError::Trailing { at: self.pos }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fe_to_be_bytes;

    #[test]
    fn reads_advance_and_finish_refuses_trailing_bytes() {
        let mut bytes = vec![7, 0, 1, 0, 0, 0, 2, 3, 0, 0, 0];
        bytes.extend_from_slice(&fe_to_be_bytes(&Fe::from(5u64)));
        bytes.push(9);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16_be(), Ok(1));
        assert_eq!(r.u32_be(), Ok(2));
        assert_eq!(r.u32_le(), Ok(3));
        assert_eq!(r.fe(), Ok(Fe::from(5u64)));
        assert_eq!(r.finish(), Err(ReadError::Trailing { at: 43 }));
        assert_eq!(r.take(1), Ok(&[9u8][..]));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn short_input_is_an_error_and_leaves_the_cursor() {
        let bytes = [1u8, 2, 3];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u32_le(), Err(ReadError::Short { at: 1, needed: 4 }));
        assert_eq!(r.u64_be(), Err(ReadError::Short { at: 1, needed: 8 }));
        assert_eq!(
            r.take(usize::MAX),
            Err(ReadError::Short {
                at: 1,
                needed: usize::MAX
            })
        );
        assert_eq!(r.pos(), 1);
        assert_eq!(r.u16_le(), Ok(0x0302));
        assert_eq!(r.u8(), Err(ReadError::Short { at: 3, needed: 1 }));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn a_non_canonical_field_element_is_an_error() {
        let bytes = [0xff; 32];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.fe(), Err(ReadError::NonCanonical { at: 0 }));
        assert_eq!(r.pos(), 0);
    }
}
