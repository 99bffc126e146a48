//! IEC 62056-21 mode C data readout: the data message a meter sends after sign-on.
//!
//! In mode C the master sends the request `/?ADDRESS!` CR LF, the meter answers with its
//! identification line `/XXXZident` CR LF, the master acknowledges with ACK `0 Z 0` CR LF
//! ("data readout at baud-rate character Z"), and the meter sends the *data message*:
//!
//! ```text
//! STX  1.8.0(001234.567*kWh) CR LF
//!      ...more data lines...
//!      ! CR LF  ETX  BCC
//! ```
//!
//! BCC is the XOR of every byte after STX up to and including ETX. This module handles only
//! that data message: building it ([`format_data_message`], for the meter simulator), finding
//! its end in a byte stream ([`complete_message_len`]), parsing it strictly with the BCC check
//! ([`parse_data_message`]), parsing unframed telegram text leniently ([`parse_data_block`]:
//! captures, DSMR P1 telegrams, logs), and turning lines into domain registers
//! ([`to_registers`]). It does no I/O.
//!
//! Each parser also comes in a zero-copy form ([`parse_data_message_ref`],
//! [`parse_data_block_ref`]) that returns a [`DataMessageRef`] borrowing its text from the
//! input; the owned forms are that, copied. Both forms come from one parser, so they accept
//! the same input and give the same errors.
//!
//! A data line holds one or more *data sets* `address(value*unit)`; a data set may carry more
//! than one value `address(value)(value*unit)`. Each data set becomes one [`DataLine`], so a
//! physical line `1.8.1(1*kWh)1.8.2(2*kWh)` gives two.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use metermaster_model::{ObisCode, Quantity, Register};

/// Start of text: the first byte of a data message.
pub const STX: u8 = 0x02;
/// End of text: followed by the BCC byte.
pub const ETX: u8 = 0x03;
/// The longest line (in bytes, without its line end) either parser accepts.
///
/// The standard keeps mode C data lines far shorter than this; the limit is generous because
/// DSMR telegrams carry long hex-encoded text messages. It exists to stop a stream of noise
/// without line ends from being taken as one endless line.
pub const MAX_LINE_LEN: usize = 4096;

/// One value of a data set: the text between `(` and `)`, split at the first `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataValue {
    /// The value text exactly as sent (leading zeros and spaces kept).
    pub value: String,
    /// The unit after `*`; `Some("")` when the meter sent a `*` with no unit after it.
    pub unit: Option<String>,
}

impl DataValue {
    pub fn new(value: impl Into<String>, unit: Option<&str>) -> Self {
        DataValue {
            value: value.into(),
            unit: unit.map(str::to_string),
        }
    }
}

/// One data line of a readout: `address(value*unit)(value*unit)...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLine {
    /// The address (usually an OBIS code in one of its reduced forms) exactly as sent.
    pub address: String,
    /// The values in the order sent. Empty only for a line the lenient parser kept although
    /// it had no `(` (see [`parse_data_block`]).
    pub values: Vec<DataValue>,
}

impl DataLine {
    pub fn new(address: impl Into<String>, values: Vec<DataValue>) -> Self {
        DataLine {
            address: address.into(),
            values,
        }
    }
}

/// The line as it is sent, without its CR LF.
impl fmt::Display for DataLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)?;
        for v in &self.values {
            f.write_str("(")?;
            f.write_str(&v.value)?;
            if let Some(unit) = &v.unit {
                f.write_str("*")?;
                f.write_str(unit)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A parsed data message (what follows the identification in mode C).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataMessage {
    pub lines: Vec<DataLine>,
}

impl DataMessage {
    /// The first line with exactly this address.
    pub fn line(&self, address: &str) -> Option<&DataLine> {
        self.lines.iter().find(|l| l.address == address)
    }
}

/// A [`DataValue`] whose text is borrowed from the parsed input.
///
/// The text is `Cow::Borrowed` except on a line [`parse_data_block_ref`] dropped control bytes
/// from, which is no longer a piece of the input; [`parse_data_message_ref`] refuses control
/// bytes, so its text is always borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataValueRef<'a> {
    /// The value text exactly as sent (leading zeros and spaces kept).
    pub value: Cow<'a, str>,
    /// The unit after `*`; `Some("")` when the meter sent a `*` with no unit after it.
    pub unit: Option<Cow<'a, str>>,
}

impl DataValueRef<'_> {
    /// The value with its text copied.
    pub fn to_owned(&self) -> DataValue {
        DataValue {
            value: String::from(&*self.value),
            unit: self.unit.as_deref().map(String::from),
        }
    }
}

/// A [`DataLine`] whose text is borrowed from the parsed input (see [`DataValueRef`]).
///
/// Its values are kept in the [`DataMessageRef`] it belongs to: see
/// [`DataMessageRef::values_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLineRef<'a> {
    /// The address exactly as sent.
    pub address: Cow<'a, str>,
    /// Where the values of this line stand in the message's list of values.
    values: Range<usize>,
}

/// A parsed data message borrowing its text from the input: [`DataMessage`] without the
/// copies. Made by [`parse_data_message_ref`] and [`parse_data_block_ref`].
///
/// The values of all lines are kept in one list, in order, so that parsing a message costs
/// two allocations whatever its size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataMessageRef<'a> {
    lines: Vec<DataLineRef<'a>>,
    values: Vec<DataValueRef<'a>>,
}

impl<'a> DataMessageRef<'a> {
    /// The lines in the order sent.
    pub fn lines(&self) -> &[DataLineRef<'a>] {
        &self.lines
    }

    /// The values of `line`, in the order sent. Empty only for a line the lenient parser kept
    /// although it had no `(`. `line` must come from this message: for a line of another one
    /// the answer means nothing (it is some other values, or none).
    pub fn values_of(&self, line: &DataLineRef<'a>) -> &[DataValueRef<'a>] {
        self.values.get(line.values.clone()).unwrap_or_default()
    }

    /// Each line with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&DataLineRef<'a>, &[DataValueRef<'a>])> {
        self.lines.iter().map(|l| (l, self.values_of(l)))
    }

    /// The first line with exactly this address.
    pub fn line(&self, address: &str) -> Option<&DataLineRef<'a>> {
        self.lines.iter().find(|l| l.address == address)
    }

    /// `line`, a line of this message, with its values and its text copied.
    pub fn owned_line(&self, line: &DataLineRef<'a>) -> DataLine {
        DataLine {
            address: String::from(&*line.address),
            values: self
                .values_of(line)
                .iter()
                .map(DataValueRef::to_owned)
                .collect(),
        }
    }

    /// The message with its text copied.
    pub fn to_owned(&self) -> DataMessage {
        DataMessage {
            lines: self.lines.iter().map(|l| self.owned_line(l)).collect(),
        }
    }

    // Building, for the parser. Values are only ever added to the last line, so the values of
    // every line stand together.

    /// Starts a line (a data set) with this address and no values yet.
    fn data_set(&mut self, address: Cow<'a, str>) {
        let n = self.values.len();
        self.lines.push(DataLineRef {
            address,
            values: n..n,
        });
    }

    /// Makes sure there is a last line for values to go to: one with an empty address when
    /// the message has none yet.
    fn continue_line(&mut self) {
        if self.lines.is_empty() {
            self.data_set(Cow::Borrowed(""));
        }
    }

    /// Adds a value to the last line (after [`Self::data_set`] or [`Self::continue_line`]).
    fn push_value(&mut self, value: Cow<'a, str>, unit: Option<Cow<'a, str>>) {
        self.values.push(DataValueRef { value, unit });
        if let Some(line) = self.lines.last_mut() {
            line.values.end = self.values.len();
        }
    }
}

/// What is wrong with a data message, and where.
///
/// Offsets are byte offsets into the slice or string given to the parser. Line numbers start
/// at 1: for [`parse_data_message`] line 1 is the line right after STX, for
/// [`parse_data_block`] it is the first line of the text. Columns are 1-based byte positions
/// within the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadoutError {
    #[error("no STX (0x02) in {len} bytes: the data message has not started")]
    MissingStx { len: usize },
    #[error("message truncated: no ETX (0x03) after the STX at offset {stx_offset}")]
    MissingEtx { stx_offset: usize },
    #[error("message truncated: no BCC byte after the ETX at offset {etx_offset}")]
    MissingBcc { etx_offset: usize },
    /// `expected` is the XOR of the bytes received from after STX up to and including ETX;
    /// `got` is the BCC byte that followed the ETX (at `offset`).
    #[error(
        "BCC mismatch at offset {offset}: the message bytes give {expected:#04x}, the BCC byte received is {got:#04x}"
    )]
    BccMismatch {
        expected: u8,
        got: u8,
        offset: usize,
    },
    #[error("{count} unexpected byte(s) after the BCC, from offset {offset}")]
    TrailingBytes { offset: usize, count: usize },
    #[error(
        "non-ASCII byte {byte:#04x} at offset {offset} (a 7E1 link read as 8N1 shows up like this)"
    )]
    NonAscii { byte: u8, offset: usize },
    #[error("control byte {byte:#04x} at offset {offset} on line {line} of the data block")]
    ControlByte {
        byte: u8,
        offset: usize,
        line: usize,
    },
    #[error("line {line} does not end in CR LF (offset {offset})")]
    BadLineEnd { line: usize, offset: usize },
    #[error("line {line} is {len} bytes long, more than the {max} accepted")]
    LineTooLong { line: usize, len: usize, max: usize },
    #[error("unterminated '(' on line {line}, column {column}")]
    UnterminatedParen { line: usize, column: usize },
    #[error("data set {address:?} on line {line} has no '(' value")]
    MissingValue { line: usize, address: String },
    #[error("unexpected {ch:?} on line {line}, column {column}")]
    UnexpectedChar {
        ch: char,
        line: usize,
        column: usize,
    },
    #[error(
        "identification line (starting '/') inside the data block on line {line}; was the '!' end line of the previous block lost?"
    )]
    IdentInBlock { line: usize },
    #[error("missing '!' end line: the data block ends after line {line}")]
    MissingEnd { line: usize },
    #[error("text after the '!' end mark on line {line}: the message must end \"!\" CR LF ETX BCC")]
    TextAfterEnd { line: usize },
}

/// XOR of bytes (caller passes the right span: for a data message, everything after STX up
/// to and including ETX).
pub fn bcc(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Build the meter-side data message: STX, the lines each ending CR LF, "!" CR LF, ETX, BCC
/// (BCC = XOR of every byte after STX up to and including ETX).
///
/// The text is written as given; it is the caller's job to keep `(`, `)`, `!`, CR and LF out
/// of addresses and values (and `*` out of values). A line with no values is written as its
/// bare address, which [`parse_data_message`] rejects; a line with an empty address reads
/// back as more values of the line before it.
pub fn format_data_message(lines: &[DataLine]) -> Vec<u8> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.to_string());
        text.push_str("\r\n");
    }
    text.push_str("!\r\n");
    let mut out = Vec::with_capacity(text.len() + 3);
    out.push(STX);
    out.extend_from_slice(text.as_bytes());
    out.push(ETX);
    let check = bcc(&out[1..]);
    out.push(check);
    out
}

/// Feed bytes; returns Some(total_len) once a complete STX...ETX+BCC message is buffered
/// (i.e. ETX seen and one more byte). Ignores bytes before STX.
///
/// `total_len` counts from the start of `buf`, leading bytes included, so `&buf[..total_len]`
/// is what to hand to [`parse_data_message`]. The data block is printable ASCII, so the first
/// ETX after the STX ends it.
pub fn complete_message_len(buf: &[u8]) -> Option<usize> {
    let stx = buf.iter().position(|&b| b == STX)?;
    let etx = stx + 1 + find_byte(&buf[stx + 1..], ETX)?;
    (buf.len() > etx + 1).then_some(etx + 2)
}

/// Parse a complete data message STX ... ! CR LF ETX BCC, checking the BCC.
///
/// Bytes before the first STX (line noise, an echoed request) are skipped; bytes after the
/// BCC are an error. The BCC is checked before anything else. Inside the block only
/// printable ASCII and CR LF line ends are accepted, every data set needs a `(value)`, and
/// the block must end with `!` CR LF; the `!` may stand on its own line or follow the last
/// data set directly, as some meters send it.
///
/// This is [`parse_data_message_ref`] with the text copied out of `bytes`.
pub fn parse_data_message(bytes: &[u8]) -> Result<DataMessage, ReadoutError> {
    parse_data_message_ref(bytes).map(|m| m.to_owned())
}

/// [`parse_data_message`] without copies: the text of the message is borrowed from `bytes`
/// (every [`Cow`] in it is `Borrowed`). It accepts and refuses exactly what
/// [`parse_data_message`] does, with the same errors.
pub fn parse_data_message_ref(bytes: &[u8]) -> Result<DataMessageRef<'_>, ReadoutError> {
    let Some(stx) = bytes.iter().position(|&b| b == STX) else {
        // With the parity bit read as data, STX arrives as 0x82: say so rather than "no STX".
        if let Some(offset) = bytes.iter().position(|&b| b >= 0x80) {
            return Err(ReadoutError::NonAscii {
                byte: bytes[offset],
                offset,
            });
        }
        return Err(ReadoutError::MissingStx { len: bytes.len() });
    };
    let etx = match find_byte(&bytes[stx + 1..], ETX) {
        Some(p) => stx + 1 + p,
        None => return Err(ReadoutError::MissingEtx { stx_offset: stx }),
    };
    let Some(&got) = bytes.get(etx + 1) else {
        return Err(ReadoutError::MissingBcc { etx_offset: etx });
    };
    let expected = bcc(&bytes[stx + 1..=etx]);
    if expected != got {
        return Err(ReadoutError::BccMismatch {
            expected,
            got,
            offset: etx + 1,
        });
    }
    if bytes.len() > etx + 2 {
        return Err(ReadoutError::TrailingBytes {
            offset: etx + 2,
            count: bytes.len() - etx - 2,
        });
    }
    let block = &bytes[stx + 1..etx];
    let (msg, _) = Block {
        bytes: block,
        text: utf8_prefix(block),
        base: stx + 1,
        mode: Mode::Strict,
    }
    .parse()?;
    Ok(msg)
}

/// Parse the data block text alone (lines up to the "!" line), lenient about CR LF vs LF,
/// used for telegrams without framing (and by tests on real telegrams).
///
/// Lenient means: lines may end in CR LF, LF or CR; blank lines are skipped; control bytes
/// (STX, ETX, DEL noise ...) are dropped; lines starting with `/` (the identification line,
/// an echoed `/?!` request) are skipped while no data line has been read; the block ends at
/// the first `!` outside parentheses, and whatever follows it on that line (a DSMR CRC) is
/// ignored, as is everything after that line. Text that does not end in a `(value)` is kept
/// as a [`DataLine`] with no values rather than dropped. Still errors: non-ASCII characters,
/// an unterminated `(`, a stray `)` or a nested `(`, an identification line after data lines,
/// an over-long line, and a missing `!`.
pub fn parse_data_block(text: &str) -> Result<DataMessage, ReadoutError> {
    parse_data_block_prefix(text).map(|(msg, _)| msg)
}

/// [`parse_data_block`], also returning how many bytes of `text` the block took (up to and
/// including the line end after `!`), so that a capture holding several telegrams can be
/// parsed one after another.
pub fn parse_data_block_prefix(text: &str) -> Result<(DataMessage, usize), ReadoutError> {
    parse_data_block_prefix_ref(text).map(|(msg, used)| (msg.to_owned(), used))
}

/// [`parse_data_block`] without copies: the text of the message is borrowed from `text`,
/// except on lines that had control bytes dropped from them, whose text is copied
/// (`Cow::Owned`). Same rules, same errors.
pub fn parse_data_block_ref(text: &str) -> Result<DataMessageRef<'_>, ReadoutError> {
    parse_data_block_prefix_ref(text).map(|(msg, _)| msg)
}

/// [`parse_data_block_prefix`] without copies, as [`parse_data_block_ref`].
pub fn parse_data_block_prefix_ref(
    text: &str,
) -> Result<(DataMessageRef<'_>, usize), ReadoutError> {
    Block {
        bytes: text.as_bytes(),
        text,
        base: 0,
        mode: Mode::Lenient,
    }
    .parse()
}

/// Map readout lines to domain registers.
///
/// A line becomes a [`Register`] when its address parses as an OBIS code, it has exactly one
/// value, the value is a decimal number (`[+-]digits[.digits]`, surrounding spaces allowed)
/// and its unit is one of kWh, kvarh, kVAh, Wh, varh, kW, kvar, kVA, W, var, VA, V, A, Hz in
/// any letter case. The quantity is exact: the digits become `raw`, the decimals and a `k`
/// prefix become `scale` (`001234.567*kWh` → raw 1234567, scale 0, Wh).
///
/// Every other line is returned unchanged in the second list, so nothing is dropped. That
/// includes lines with more than one value (a maximum demand with its time stamp, a DSMR gas
/// reading): a register would have to throw the other values away.
pub fn to_registers(msg: &DataMessage) -> (Vec<Register>, Vec<DataLine>) {
    split_registers(&msg.lines, |line| match line.values.as_slice() {
        [v] => register_of(&line.address, &v.value, v.unit.as_deref()),
        _ => None,
    })
}

/// [`to_registers`] for a [`DataMessageRef`]: the same registers, and the other lines still
/// borrowed (their values are in `msg`).
pub fn to_registers_ref<'a>(msg: &DataMessageRef<'a>) -> (Vec<Register>, Vec<DataLineRef<'a>>) {
    split_registers(msg.lines(), |line| match msg.values_of(line) {
        [v] => register_of(&line.address, &v.value, v.unit.as_deref()),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// Parsing
//
// One parser serves both modes: it reads a block into a `DataMessageRef` that borrows its text
// from the input, and the owned forms are copied from that.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inside a framed message whose BCC matched: the bytes must be exactly right.
    Strict,
    /// Telegram text from a capture or a push interface: take what can be taken.
    Lenient,
}

/// How one line ended the parse.
enum LineEnd {
    /// An ordinary line (or a skipped one): go on.
    Next,
    /// The `!` end mark was found; the text after it on the line starts at this index.
    Bang(usize),
    /// Only for text cut short before a byte the mode does not take (see [`parse_sets`]):
    /// the text ran out with nothing wrong in it, so that byte is the error.
    Cut,
}

fn is_printable(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

/// Index of the first `byte` in `bytes`. Faster than a loop over the bytes on a long message:
/// `BufRead::skip_until` on a slice runs the platform's `memchr`.
fn find_byte(bytes: &[u8], byte: u8) -> Option<usize> {
    let mut rest = bytes;
    // Reading from a slice cannot fail. The count includes `byte` when it was found.
    let read = std::io::BufRead::skip_until(&mut rest, byte).ok()?;
    let last = read.checked_sub(1)?;
    (bytes[last] == byte).then_some(last)
}

/// Index of the first byte from `from` on that `hit` accepts.
fn find(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> Option<usize> {
    bytes[from..].iter().position(|&b| hit(b)).map(|p| p + from)
}

/// The longest start of `bytes` that is valid UTF-8: all of a well-formed data block, which
/// is ASCII. Checked once per block, so that every line of printable ASCII before the first
/// non-ASCII byte can be taken from it as `&str`.
fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // The bytes up to `valid_up_to` are valid UTF-8: this second check cannot fail.
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// A data block being parsed.
struct Block<'a> {
    bytes: &'a [u8],
    /// The valid UTF-8 start of `bytes` (see [`utf8_prefix`]). Every line the parser takes
    /// text from lies in it: in strict mode the first non-ASCII byte ends the parse with an
    /// error, and lenient mode gets its bytes as `&str`.
    text: &'a str,
    /// Where `bytes` start in the caller's input, for error offsets.
    base: usize,
    mode: Mode,
}

impl<'a> Block<'a> {
    /// Parses the lines up to and including the `!` line. Returns the message and the number
    /// of bytes used.
    fn parse(&self) -> Result<(DataMessageRef<'a>, usize), ReadoutError> {
        let bytes = self.bytes;
        let mut out = DataMessageRef::default();
        let mut pos = 0;
        let mut line = 0;
        loop {
            if pos >= bytes.len() {
                return Err(ReadoutError::MissingEnd { line });
            }
            line += 1;
            // The first byte that is not printable ASCII: nearly always the line end.
            let odd = find(bytes, pos, |b| !is_printable(b)).unwrap_or(bytes.len());
            let (content_end, next) = self.line_end(odd, line)?;
            let len = content_end - pos;
            if len > MAX_LINE_LEN {
                return Err(ReadoutError::LineTooLong {
                    line,
                    len,
                    max: MAX_LINE_LEN,
                });
            }
            let bad = (odd < content_end).then_some(odd - pos);
            match self.parse_line(pos, content_end, bad, line, &mut out)? {
                // (`Cut` stays inside `parse_line`, which reports the byte.)
                LineEnd::Next | LineEnd::Cut => pos = next,
                LineEnd::Bang(after) => {
                    if self.mode == Mode::Strict {
                        if after < len {
                            return Err(ReadoutError::TextAfterEnd { line });
                        }
                        if next < bytes.len() {
                            return Err(ReadoutError::TextAfterEnd { line: line + 1 });
                        }
                    }
                    return Ok((out, next));
                }
            }
        }
    }

    /// Finds where the line that has no CR or LF before `from` ends: returns (end of content,
    /// start of next line).
    fn line_end(&self, from: usize, line: usize) -> Result<(usize, usize), ReadoutError> {
        let bytes = self.bytes;
        let Some(i) = find(bytes, from, |b| b == b'\r' || b == b'\n') else {
            // The last line has no line end: normal in a capture, wrong inside a framed
            // message.
            if self.mode == Mode::Strict {
                return Err(ReadoutError::BadLineEnd {
                    line,
                    offset: self.base + bytes.len(),
                });
            }
            return Ok((bytes.len(), bytes.len()));
        };
        let crlf = bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n');
        match (crlf, self.mode) {
            (true, _) => Ok((i, i + 2)),
            (false, Mode::Lenient) => Ok((i, i + 1)),
            (false, Mode::Strict) => Err(ReadoutError::BadLineEnd {
                line,
                offset: self.base + i,
            }),
        }
    }

    /// Parses the data sets of the line `pos..end` (without its line end) into `out`. `bad`
    /// is the index in the line of its first byte that is not printable ASCII, if any.
    fn parse_line(
        &self,
        pos: usize,
        end: usize,
        bad: Option<usize>,
        line: usize,
        out: &mut DataMessageRef<'a>,
    ) -> Result<LineEnd, ReadoutError> {
        let content = &self.bytes[pos..end];
        // Nearly every line is printable ASCII: it is parsed where it stands.
        let Some(bad) = bad else {
            return parse_sets(
                LineText::Input(&self.text[pos..end]),
                line,
                self.mode,
                false,
                out,
            );
        };
        // Otherwise the parser reads what the mode takes, up to the first byte it does not
        // take (`stop`): what it finds wrong before that byte, or a `!`, comes first.
        let mut kept = String::new();
        let mut at = Vec::new();
        let (text, stop) = match self.mode {
            // Nothing is skipped: the text is the printable start of the line.
            Mode::Strict => (LineText::Input(&self.text[pos..pos + bad]), Some(bad)),
            // Control bytes are dropped, which leaves text that is not in the input.
            Mode::Lenient => {
                let stop = content.iter().position(|&b| b >= 0x80);
                for (i, &b) in content[..stop.unwrap_or(content.len())].iter().enumerate() {
                    if is_printable(b) {
                        kept.push(char::from(b));
                        at.push(i);
                    }
                }
                (
                    LineText::Kept {
                        text: &kept,
                        at: &at,
                    },
                    stop,
                )
            }
        };
        match (
            parse_sets(text, line, self.mode, stop.is_some(), out)?,
            stop,
        ) {
            (LineEnd::Cut, Some(i)) => {
                let byte = content[i];
                let offset = self.base + pos + i;
                Err(if byte >= 0x80 {
                    ReadoutError::NonAscii { byte, offset }
                } else {
                    ReadoutError::ControlByte { byte, offset, line }
                })
            }
            (end, _) => Ok(end),
        }
    }
}

/// The printable ASCII text of a line, as the data-set parser reads it.
#[derive(Clone, Copy)]
enum LineText<'a, 's> {
    /// A stretch of the input, from the start of a line: borrowed as it is.
    Input(&'a str),
    /// A lenient line with its control bytes dropped; byte `i` stood at `at[i]` in the line.
    Kept { text: &'s str, at: &'s [usize] },
}

impl<'a> LineText<'a, '_> {
    fn as_str(&self) -> &str {
        match *self {
            LineText::Input(text) | LineText::Kept { text, .. } => text,
        }
    }

    /// The text of `range` (byte indices into this text), borrowed from the input if it can.
    fn get(&self, range: Range<usize>) -> Cow<'a, str> {
        match *self {
            LineText::Input(text) => Cow::Borrowed(&text[range]),
            LineText::Kept { text, .. } => Cow::Owned(text[range].to_owned()),
        }
    }

    /// The 1-based column in the line of byte `i` of this text.
    fn column(&self, i: usize) -> usize {
        match *self {
            LineText::Input(_) => i + 1,
            LineText::Kept { at, .. } => at[i] + 1,
        }
    }
}

/// Reads the data sets of one line into `out`: the rules of a data line, for both modes.
///
/// With `cut`, `text` stops short of the line's end, before a byte the mode does not take.
/// Reading on up to that byte with a `(` still open, or with address text waiting for its
/// `(`, is not wrong yet: it gives [`LineEnd::Cut`], and the caller reports the byte.
fn parse_sets<'a>(
    text: LineText<'a, '_>,
    line: usize,
    mode: Mode,
    cut: bool,
    out: &mut DataMessageRef<'a>,
) -> Result<LineEnd, ReadoutError> {
    let bytes = text.as_str().as_bytes();
    if bytes.first() == Some(&b'/') {
        if mode == Mode::Lenient && out.lines.is_empty() {
            return Ok(LineEnd::Next);
        }
        return Err(ReadoutError::IdentInBlock { line });
    }
    let mut i = 0;
    loop {
        let Some(j) = find(bytes, i, |b| matches!(b, b'(' | b')' | b'!')) else {
            if cut {
                return Ok(LineEnd::Cut);
            }
            end_line(text, i..bytes.len(), line, mode, out)?;
            return Ok(LineEnd::Next);
        };
        match bytes[j] {
            b')' => {
                return Err(ReadoutError::UnexpectedChar {
                    ch: ')',
                    line,
                    column: text.column(j),
                });
            }
            b'!' => {
                end_line(text, i..j, line, mode, out)?;
                return Ok(LineEnd::Bang(text.column(j)));
            }
            _ => {}
        }
        // A '(' with an address before it starts a data set; without one, the value belongs
        // to the data set before, also across a line end (DSMR 2.2 and 3 put the gas reading
        // on a line of its own).
        if i == j {
            out.continue_line();
        } else {
            out.data_set(text.get(i..j));
        }
        let Some(k) = find(bytes, j + 1, |b| b == b'(' || b == b')') else {
            if cut {
                return Ok(LineEnd::Cut);
            }
            return Err(ReadoutError::UnterminatedParen {
                line,
                column: text.column(j),
            });
        };
        if bytes[k] == b'(' {
            return Err(ReadoutError::UnexpectedChar {
                ch: '(',
                line,
                column: text.column(k),
            });
        }
        match find(&bytes[..k], j + 1, |b| b == b'*') {
            Some(star) => out.push_value(text.get(j + 1..star), Some(text.get(star + 1..k))),
            None => out.push_value(text.get(j + 1..k), None),
        }
        i = k + 1;
    }
}

/// Ends a line (or the block, at its `!`): address text that never got a `(` is an error in
/// strict mode and a line without values in lenient mode; blank text is let go.
fn end_line<'a>(
    text: LineText<'a, '_>,
    rest: Range<usize>,
    line: usize,
    mode: Mode,
    out: &mut DataMessageRef<'a>,
) -> Result<(), ReadoutError> {
    if text.as_str()[rest.clone()].trim().is_empty() {
        return Ok(());
    }
    match mode {
        Mode::Strict => Err(ReadoutError::MissingValue {
            line,
            address: text.get(rest).into_owned(),
        }),
        Mode::Lenient => {
            out.data_set(text.get(rest));
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registers

/// Splits `lines` into registers and the lines that are none.
fn split_registers<L: Clone>(
    lines: &[L],
    register: impl Fn(&L) -> Option<Register>,
) -> (Vec<Register>, Vec<L>) {
    let mut registers = Vec::new();
    let mut rest = Vec::new();
    for line in lines {
        match register(line) {
            Some(r) => registers.push(r),
            None => rest.push(line.clone()),
        }
    }
    (registers, rest)
}

/// The register a line with this address and its one value stands for, if any (see
/// [`to_registers`]).
fn register_of(address: &str, value: &str, unit: Option<&str>) -> Option<Register> {
    let value = Quantity::parse(value, unit?)?;
    let obis = ObisCode::parse(address).ok()?;
    Some(Register {
        obis,
        name: register_name(obis),
        value,
    })
}

/// What a register holds, in words, from its OBIS code; codes outside the electricity
/// quantities named here are called by their code.
fn register_name(obis: ObisCode) -> String {
    let (base, phase) = match obis.c {
        1..=16 => (obis.c, ""),
        21..=36 => (obis.c - 20, " L1"),
        41..=56 => (obis.c - 40, " L2"),
        61..=76 => (obis.c - 60, " L3"),
        _ => (0, ""),
    };
    let quantity = match base {
        1 => "active import",
        2 => "active export",
        3 => "reactive import",
        4 => "reactive export",
        5 => "reactive Q1",
        6 => "reactive Q2",
        7 => "reactive Q3",
        8 => "reactive Q4",
        9 => "apparent import",
        10 => "apparent export",
        11 => "current",
        12 => "voltage",
        13 => "power factor",
        14 => "frequency",
        15 => "active import + export",
        16 => "active import - export",
        _ => "",
    };
    if obis.a != 1 || quantity.is_empty() {
        return format!("register {obis}");
    }
    let mut name = format!("{quantity}{phase}");
    let (kind, rated) = match obis.d {
        2 => (", cumulative maximum demand", true),
        4 => (", current average demand", true),
        5 => (", last average demand", true),
        6 => (", maximum demand", true),
        7 => (", instantaneous", false),
        8 => (" energy", true),
        9 => (" energy (time integral 2)", true),
        _ => ("", false),
    };
    name.push_str(kind);
    if rated && obis.e != 0 {
        name.push_str(&format!(", rate {}", obis.e));
    }
    if obis.f != 255 {
        name.push_str(&format!(", billing period {}", obis.f));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use metermaster_model::Unit;
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};

    fn dl(address: &str, values: &[(&str, Option<&str>)]) -> DataLine {
        DataLine::new(
            address,
            values.iter().map(|(v, u)| DataValue::new(*v, *u)).collect(),
        )
    }

    fn sample_lines() -> Vec<DataLine> {
        vec![
            dl("F.F", &[("00000000", None)]),
            dl("C.1.0", &[("12345678", None)]),
            dl("1.8.0", &[("001234.567", Some("kWh"))]),
            dl("1.8.1", &[("000001.000", Some("kWh"))]),
            dl("1.6.0", &[("01.234", Some("kW")), ("24-03-05 12:30", None)]),
            dl("0.9.1", &[("123456", None)]),
        ]
    }

    // -----------------------------------------------------------------------------------------
    // BCC and framing

    #[test]
    fn bcc_known_vector() {
        // SOH R 1 STX 7 9 8 0 0 1 ( 1 0 ) ETX: the BCC covers everything after SOH.
        let frame = [
            0x01, 0x52, 0x31, 0x02, 0x37, 0x39, 0x38, 0x30, 0x30, 0x31, 0x28, 0x31, 0x30, 0x29,
            0x03,
        ];
        assert_eq!(bcc(&frame[1..]), 0x65);
        assert_eq!(bcc(&[]), 0);
    }

    #[test]
    fn format_writes_the_exact_bytes() {
        let msg = format_data_message(&[dl("1.8.0", &[("001234.567", Some("kWh"))])]);
        let mut want = b"\x021.8.0(001234.567*kWh)\r\n!\r\n\x03".to_vec();
        let check = want[1..].iter().fold(0u8, |a, b| a ^ b);
        want.push(check);
        assert_eq!(msg, want);
        assert_eq!(
            format_data_message(&[]),
            [STX, b'!', b'\r', b'\n', ETX, b'!' ^ b'\r' ^ b'\n' ^ ETX]
        );
    }

    #[test]
    fn format_parse_round_trip() {
        let lines = sample_lines();
        let bytes = format_data_message(&lines);
        assert_eq!(parse_data_message(&bytes).unwrap().lines, lines);
        // The lenient parser reads the same bytes (STX dropped as noise, stops at '!').
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(parse_data_block(text).unwrap().lines, lines);
        // Units: none, empty, present.
        let odd = vec![dl("x", &[("", None), ("1", Some("")), ("", Some("h"))])];
        assert_eq!(
            parse_data_message(&format_data_message(&odd))
                .unwrap()
                .lines,
            odd
        );
    }

    #[test]
    fn every_corrupted_byte_is_a_bcc_mismatch() {
        let bytes = format_data_message(&sample_lines());
        let etx = bytes.len() - 2;
        let good = bytes[etx + 1];
        for i in 1..etx {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                parse_data_message(&bad),
                Err(ReadoutError::BccMismatch {
                    expected: good ^ 0x01,
                    got: good,
                    offset: etx + 1
                }),
                "byte {i}"
            );
        }
        let mut bad = bytes.clone();
        bad[etx + 1] ^= 0x40;
        let err = parse_data_message(&bad).unwrap_err();
        assert_eq!(
            err,
            ReadoutError::BccMismatch {
                expected: good,
                got: good ^ 0x40,
                offset: etx + 1
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "BCC mismatch at offset {}: the message bytes give {:#04x}, the BCC byte received is {:#04x}",
                etx + 1,
                good,
                good ^ 0x40
            )
        );
    }

    #[test]
    fn framing_errors_say_where() {
        let bytes = format_data_message(&sample_lines());
        let etx = bytes.len() - 2;
        assert_eq!(
            parse_data_message(b"1.8.0(1)\r\n!\r\n"),
            Err(ReadoutError::MissingStx { len: 13 })
        );
        assert_eq!(
            parse_data_message(&bytes[..etx]),
            Err(ReadoutError::MissingEtx { stx_offset: 0 })
        );
        assert_eq!(
            parse_data_message(&bytes[..etx + 1]),
            Err(ReadoutError::MissingBcc { etx_offset: etx })
        );
        let mut long = bytes.clone();
        long.extend_from_slice(b"\x7f\x7f");
        assert_eq!(
            parse_data_message(&long),
            Err(ReadoutError::TrailingBytes {
                offset: etx + 2,
                count: 2
            })
        );
        // Noise and an echoed request before STX are skipped.
        let mut noisy = b"\x7f\x7f/?!\r\n".to_vec();
        noisy.extend_from_slice(&bytes);
        assert_eq!(parse_data_message(&noisy).unwrap().lines, sample_lines());
        // 7E1 read as 8N1: STX arrives as 0x82.
        assert_eq!(
            parse_data_message(b"\x82\xb1.8.0"),
            Err(ReadoutError::NonAscii {
                byte: 0x82,
                offset: 0
            })
        );
    }

    /// Frames `block` (the bytes between STX and ETX) with a correct BCC.
    fn framed(block: &[u8]) -> Vec<u8> {
        let mut v = vec![STX];
        v.extend_from_slice(block);
        v.push(ETX);
        let check = bcc(&v[1..]);
        v.push(check);
        v
    }

    #[test]
    fn strict_block_errors_say_where() {
        let p = |block: &[u8]| parse_data_message(&framed(block));
        assert_eq!(
            p(b"1.8.0(1*kWh)\r\n2.8.0(2*kWh\r\n!\r\n"),
            Err(ReadoutError::UnterminatedParen { line: 2, column: 6 })
        );
        assert_eq!(
            p(b"1.8.0(1*kWh)\r\n2.8.0(2*kWh)\r\n"),
            Err(ReadoutError::MissingEnd { line: 2 })
        );
        assert_eq!(p(b""), Err(ReadoutError::MissingEnd { line: 0 }));
        assert_eq!(
            p(b"1.8.0(1*kWh)\n!\r\n"),
            Err(ReadoutError::BadLineEnd {
                line: 1,
                offset: 13
            })
        );
        assert_eq!(
            p(b"1.8.0(1*kWh)\r\n!"),
            Err(ReadoutError::BadLineEnd {
                line: 2,
                offset: 16
            })
        );
        assert_eq!(
            p(b"1.8.0(1*k\xc3\xa9)\r\n!\r\n"),
            Err(ReadoutError::NonAscii {
                byte: 0xc3,
                offset: 10
            })
        );
        assert_eq!(
            p(b"1.8.0(1)\r\n2.8\t0(1)\r\n!\r\n"),
            Err(ReadoutError::ControlByte {
                byte: b'\t',
                offset: 14,
                line: 2
            })
        );
        assert_eq!(
            p(b"1.8.0(1)\r\n2.8.0\r\n!\r\n"),
            Err(ReadoutError::MissingValue {
                line: 2,
                address: "2.8.0".into()
            })
        );
        assert_eq!(
            p(b"1.8.0(1))\r\n!\r\n"),
            Err(ReadoutError::UnexpectedChar {
                ch: ')',
                line: 1,
                column: 9
            })
        );
        assert_eq!(
            p(b"1.8.0(1(2)\r\n!\r\n"),
            Err(ReadoutError::UnexpectedChar {
                ch: '(',
                line: 1,
                column: 8
            })
        );
        assert_eq!(
            p(b"/ABC5xyz\r\n1.8.0(1)\r\n!\r\n"),
            Err(ReadoutError::IdentInBlock { line: 1 })
        );
        assert_eq!(
            p(b"1.8.0(1)\r\n!1234\r\n"),
            Err(ReadoutError::TextAfterEnd { line: 2 })
        );
        assert_eq!(
            p(b"1.8.0(1)\r\n!\r\n2.8.0(1)\r\n"),
            Err(ReadoutError::TextAfterEnd { line: 3 })
        );
        let mut long = b"1.8.0(".to_vec();
        long.resize(MAX_LINE_LEN + 1, b'9');
        long.extend_from_slice(b")\r\n!\r\n");
        assert_eq!(
            p(&long),
            Err(ReadoutError::LineTooLong {
                line: 1,
                len: MAX_LINE_LEN + 2,
                max: MAX_LINE_LEN
            })
        );
        // Blank lines are harmless, and '!' may follow the last data set directly.
        assert_eq!(
            p(b"\r\n1.8.0(1*kWh)!\r\n").unwrap().lines,
            vec![dl("1.8.0", &[("1", Some("kWh"))])]
        );
    }

    #[test]
    fn error_messages_name_the_place() {
        let e = ReadoutError::UnterminatedParen { line: 7, column: 3 };
        assert_eq!(e.to_string(), "unterminated '(' on line 7, column 3");
        let e = ReadoutError::NonAscii {
            byte: 0xb1,
            offset: 12,
        };
        assert!(e.to_string().contains("0xb1 at offset 12"), "{e}");
        assert!(
            ReadoutError::MissingEnd { line: 4 }
                .to_string()
                .contains("after line 4")
        );
    }

    #[test]
    fn several_data_sets_on_one_line() {
        let msg = parse_data_message(&framed(
            b"1.8.1(1.5*kWh)1.8.2(2.5*kWh)\r\n1.6.0(3*kW)(24-01-02 03:04)\r\n!\r\n",
        ))
        .unwrap();
        assert_eq!(
            msg.lines,
            vec![
                dl("1.8.1", &[("1.5", Some("kWh"))]),
                dl("1.8.2", &[("2.5", Some("kWh"))]),
                dl("1.6.0", &[("3", Some("kW")), ("24-01-02 03:04", None)]),
            ]
        );
    }

    /// Whether `text` is a piece of `input` rather than a copy (empty text may be anywhere).
    fn is_piece_of(text: &str, input: &[u8]) -> bool {
        let within = input.as_ptr_range();
        let piece = text.as_bytes().as_ptr_range();
        text.is_empty() || (within.start <= piece.start && piece.end <= within.end)
    }

    /// Bytes that make the lenient parser copy a line instead of borrowing it: control bytes
    /// other than CR and LF (it drops them), and non-ASCII bytes (it reads up to them, so a line
    /// holding one is parsed from a copy even when the parse ends before it).
    fn has_unprintable_bytes(bytes: &[u8]) -> bool {
        bytes
            .iter()
            .any(|&b| (b < 0x20 && b != b'\r' && b != b'\n') || b >= 0x7f)
    }

    /// Asserts that the borrowed message says what `owned` says, comparing line by line (not
    /// through `to_owned`), with the same registers; with `all_borrowed`, also that every
    /// text in it is a piece of `input`.
    fn assert_same(
        msg: &DataMessageRef<'_>,
        owned: &DataMessage,
        input: &[u8],
        all_borrowed: bool,
    ) {
        assert_eq!(msg.lines().len(), owned.lines.len());
        for ((line, values), want) in msg.iter().zip(&owned.lines) {
            assert_eq!(line.address, want.address.as_str());
            assert_eq!(values.len(), want.values.len(), "{}", want.address);
            for (v, w) in values.iter().zip(&want.values) {
                assert_eq!(v.value, w.value.as_str());
                assert_eq!(v.unit.as_deref(), w.unit.as_deref());
            }
            if all_borrowed {
                let mut texts = values
                    .iter()
                    .flat_map(|v| std::iter::once(&v.value).chain(&v.unit));
                assert!(is_piece_of(&line.address, input), "{line:?}");
                assert!(texts.all(|t| is_piece_of(t, input)), "{values:?}");
            }
        }
        assert_eq!(&msg.to_owned(), owned);
        let (regs, rest) = to_registers(owned);
        let (regs_ref, rest_ref) = to_registers_ref(msg);
        assert_eq!(regs_ref, regs);
        let rest_ref: Vec<_> = rest_ref.iter().map(|l| msg.owned_line(l)).collect();
        assert_eq!(rest_ref, rest);
    }

    #[test]
    fn zero_copy_message() {
        let bytes =
            framed(b"1.8.1(1.5*kWh)1.8.2(2.5*kWh)\r\n1.6.0(3*kW)(24-01-02 03:04)\r\nF.F(00)!\r\n");
        let msg = parse_data_message_ref(&bytes).unwrap();
        let addresses: Vec<&str> = msg.lines().iter().map(|l| &*l.address).collect();
        assert_eq!(addresses, ["1.8.1", "1.8.2", "1.6.0", "F.F"]);
        let counts: Vec<usize> = msg.iter().map(|(_, values)| values.len()).collect();
        assert_eq!(counts, [1, 1, 2, 1]);
        assert_eq!(
            msg.values_of(msg.line("1.6.0").unwrap()),
            [
                DataValueRef {
                    value: "3".into(),
                    unit: Some("kW".into())
                },
                DataValueRef {
                    value: "24-01-02 03:04".into(),
                    unit: None
                },
            ]
        );
        assert!(msg.line("2.8.0").is_none());
        let (regs, rest) = to_registers_ref(&msg);
        let obis: Vec<_> = regs.iter().map(|r| r.obis.reduced()).collect();
        assert_eq!(obis, ["1.8.1", "1.8.2"]);
        let rest: Vec<_> = rest.iter().map(|l| msg.owned_line(l)).collect();
        assert_eq!(
            rest,
            [
                dl("1.6.0", &[("3", Some("kW")), ("24-01-02 03:04", None)]),
                dl("F.F", &[("00", None)]),
            ]
        );
        let owned = parse_data_message(&bytes).unwrap();
        assert_same(&msg, &owned, &bytes, true);

        // Lenient: a line that starts with '(' adds to the line before, and a line that had
        // control bytes dropped is no piece of the input, so its text is copied.
        let text = "\x021.8.0(1*kWh)\n0-1:24.3.0(1)\n(00001.001*m3)\n2.8\x7f.0(2*kWh)\n!";
        let msg = parse_data_block_ref(text).unwrap();
        let lines: Vec<_> = msg.lines().iter().map(|l| msg.owned_line(l)).collect();
        assert_eq!(
            lines,
            [
                dl("1.8.0", &[("1", Some("kWh"))]),
                dl("0-1:24.3.0", &[("1", None), ("00001.001", Some("m3"))]),
                dl("2.8.0", &[("2", Some("kWh"))]),
            ]
        );
        let borrowed: Vec<bool> = msg
            .iter()
            .map(|(line, values)| {
                is_piece_of(&line.address, text.as_bytes())
                    && values
                        .iter()
                        .all(|v| is_piece_of(&v.value, text.as_bytes()))
            })
            .collect();
        assert_eq!(borrowed, [false, true, false]);
        assert_eq!(msg.to_owned(), parse_data_block(text).unwrap());
    }

    #[test]
    fn lenient_block_parsing() {
        let text =
            "\x7f/?!\r\n/GEC5A1140\r\n\r\n\x021.8.0(1*kWh)\n2.8.0(2*kWh)\r\r\n!ABCD\r\nnext(1)\n";
        let (msg, used) = parse_data_block_prefix(text).unwrap();
        assert_eq!(
            msg.lines,
            vec![
                dl("1.8.0", &[("1", Some("kWh"))]),
                dl("2.8.0", &[("2", Some("kWh"))])
            ]
        );
        assert_eq!(&text[used..], "next(1)\n");
        // Text without a value is kept, not dropped; a continuation line joins the line above.
        let msg = parse_data_block("junk\n0-1:24.3.0(1)(m3)\n(00001.001)\n!").unwrap();
        assert_eq!(
            msg.lines,
            vec![
                dl("junk", &[]),
                dl(
                    "0-1:24.3.0",
                    &[("1", None), ("m3", None), ("00001.001", None)]
                ),
            ]
        );
        assert_eq!(
            parse_data_block("1.8.0(1)\n2.8.0(2\n!"),
            Err(ReadoutError::UnterminatedParen { line: 2, column: 6 })
        );
        assert_eq!(
            parse_data_block("1.8.0(1)\n2.8.0(2)\n"),
            Err(ReadoutError::MissingEnd { line: 2 })
        );
        assert_eq!(
            parse_data_block("1.8.0(1)\n/ABC5\n!"),
            Err(ReadoutError::IdentInBlock { line: 2 })
        );
        assert_eq!(
            parse_data_block("1.8.0(1)\n2.8.0(2°C)\n!"),
            Err(ReadoutError::NonAscii {
                byte: 0xc2,
                offset: 16
            })
        );
    }

    #[test]
    fn incremental_reader() {
        let bytes = format_data_message(&sample_lines());
        let mut stream = b"\x7f\x7f\x7f".to_vec();
        stream.extend_from_slice(&bytes);
        let total = stream.len();
        for n in 0..total {
            assert_eq!(complete_message_len(&stream[..n]), None, "{n} bytes");
        }
        assert_eq!(complete_message_len(&stream), Some(total));
        stream.extend_from_slice(b"\x02more");
        assert_eq!(complete_message_len(&stream), Some(total));
        assert_eq!(
            parse_data_message(&stream[..total]).unwrap().lines,
            sample_lines()
        );
    }

    // -----------------------------------------------------------------------------------------
    // Registers

    fn reg_of(address: &str, value: &str, unit: &str) -> Option<Register> {
        let msg = DataMessage {
            lines: vec![dl(address, &[(value, Some(unit))])],
        };
        let (mut regs, rest) = to_registers(&msg);
        assert_eq!(regs.len() + rest.len(), 1);
        regs.pop()
    }

    #[test]
    fn registers_are_exact() {
        let r = reg_of("1.8.0", "001234.567", "kWh").unwrap();
        assert_eq!(r.obis, ObisCode::elec(1, 8, 0));
        assert_eq!(r.value, Quantity::new(1_234_567, 0, Unit::WattHour));
        assert_eq!(r.name, "active import energy");
        let q = |a: &str, v: &str, u: &str| reg_of(a, v, u).map(|r| r.value);
        assert_eq!(
            q("1-0:1.8.1*255", "000123.4", "KWH"),
            Some(Quantity::new(1234, 2, Unit::WattHour))
        );
        assert_eq!(
            q("3.8.0", "12.5", "kvarh"),
            Some(Quantity::new(125, 2, Unit::VarHour))
        );
        assert_eq!(
            q("3.8.0", "12.5", "kVArh"),
            Some(Quantity::new(125, 2, Unit::VarHour))
        );
        assert_eq!(
            q("9.8.0", "7", "kVAh"),
            Some(Quantity::new(7, 3, Unit::VoltAmpereHour))
        );
        assert_eq!(
            q("1.8.0", "42", "Wh"),
            Some(Quantity::new(42, 0, Unit::WattHour))
        );
        assert_eq!(
            q("1.8.0", "4.2", "varh"),
            Some(Quantity::new(42, -1, Unit::VarHour))
        );
        assert_eq!(
            q("1.7.0", "-0.123", "kW"),
            Some(Quantity::new(-123, 0, Unit::Watt))
        );
        assert_eq!(q("1.7.0", "+5", "W"), Some(Quantity::new(5, 0, Unit::Watt)));
        assert_eq!(
            q("3.7.0", "1.5", "kvar"),
            Some(Quantity::new(15, 2, Unit::Var))
        );
        assert_eq!(
            q("3.7.0", "15", "var"),
            Some(Quantity::new(15, 0, Unit::Var))
        );
        assert_eq!(
            q("9.7.0", "2", "kVA"),
            Some(Quantity::new(2, 3, Unit::VoltAmpere))
        );
        assert_eq!(
            q("9.7.0", "2", "VA"),
            Some(Quantity::new(2, 0, Unit::VoltAmpere))
        );
        assert_eq!(
            q("32.7.0", " 230.1", "V"),
            Some(Quantity::new(2301, -1, Unit::Volt))
        );
        assert_eq!(
            q("31.7.0", "002.30", "a"),
            Some(Quantity::new(230, -2, Unit::Ampere))
        );
        assert_eq!(
            q("14.7.0", "50.00", "Hz"),
            Some(Quantity::new(5000, -2, Unit::Hertz))
        );
        assert_eq!(
            q("1.8.0", ".5", "kWh"),
            Some(Quantity::new(5, 2, Unit::WattHour))
        );
        // Not registers: unknown unit, no number, bad address, too big, no unit.
        assert_eq!(q("6.8", "00433.65", "GJ"), None);
        // Mega is upper-case M (lower-case m would be milli, which meters do not use here).
        assert_eq!(
            q("1.8.0", "1", "MWh"),
            Some(Quantity::new(1, 6, Unit::WattHour))
        );
        assert_eq!(q("1.8.0", "1", "mWh"), None);
        assert_eq!(q("1.8.0", "", "kWh"), None);
        assert_eq!(q("1.8.0", "-", "kWh"), None);
        assert_eq!(q("1.8.0", "1.2.3", "kWh"), None);
        assert_eq!(q("1.8.0", "1e3", "kWh"), None);
        assert_eq!(q("Y", "1", "kWh"), None);
        assert_eq!(q("1.8.0", "99999999999999999999", "Wh"), None);
        let (regs, rest) = to_registers(&DataMessage {
            lines: vec![dl("1.8.0", &[("1", None)])],
        });
        assert!(regs.is_empty());
        assert_eq!(rest.len(), 1);
    }

    #[test]
    fn register_names() {
        let name = |a: &str| reg_of(a, "1", "kWh").unwrap().name;
        assert_eq!(name("1.8.2"), "active import energy, rate 2");
        assert_eq!(name("2.8.0*03"), "active export energy, billing period 3");
        assert_eq!(name("1.6.1"), "active import, maximum demand, rate 1");
        assert_eq!(name("32.7.0"), "voltage L1, instantaneous");
        assert_eq!(name("71.7.0"), "current L3, instantaneous");
        assert_eq!(name("0-0:17.0.0"), "register 0-0:17.0.0*255");
    }

    #[test]
    fn multi_value_lines_stay_unparsed() {
        let msg = parse_data_message(&format_data_message(&sample_lines())).unwrap();
        let (regs, rest) = to_registers(&msg);
        let obis: Vec<_> = regs.iter().map(|r| r.obis.reduced()).collect();
        assert_eq!(obis, ["1.8.0", "1.8.1"]);
        let addresses: Vec<_> = rest.iter().map(|l| l.address.as_str()).collect();
        assert_eq!(addresses, ["F.F", "C.1.0", "1.6.0", "0.9.1"]);
    }

    // -----------------------------------------------------------------------------------------
    // Real telegrams (GPL-3.0, read from the shared folder, never copied into the repository)

    const SHARED: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/iec62056-21-telegrams"
    );

    fn shared_dir() -> Option<PathBuf> {
        let dir = Path::new(SHARED);
        if dir.is_dir() {
            Some(dir.to_path_buf())
        } else {
            println!("SKIPPED: ../shared/data not present");
            None
        }
    }

    fn read(dir: &Path, name: &str) -> Vec<u8> {
        std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn block(dir: &Path, name: &str) -> DataMessage {
        let bytes = read(dir, name);
        let text = std::str::from_utf8(&bytes).unwrap();
        parse_data_block(text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn register(msg: &DataMessage, obis: &str) -> Quantity {
        let want = ObisCode::parse(obis).unwrap();
        let (regs, _) = to_registers(msg);
        regs.iter()
            .find(|r| r.obis == want)
            .unwrap_or_else(|| panic!("no register {obis}"))
            .value
    }

    fn value<'a>(msg: &'a DataMessage, address: &str) -> &'a DataValue {
        &msg.line(address)
            .unwrap_or_else(|| panic!("no line {address}"))
            .values[0]
    }

    /// The telegram files in the shared folder, sorted.
    fn telegram_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for sub in ["jonkerj-iec62056", "vzlogger"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "txt") {
                    files.push(path);
                }
            }
        }
        files.sort();
        assert!(files.len() >= 12, "only {} telegram files", files.len());
        files
    }

    /// Parses `bytes` with the borrowed and the owned strict parser: same message or same
    /// error.
    fn assert_same_strict(bytes: &[u8]) {
        match (parse_data_message_ref(bytes), parse_data_message(bytes)) {
            (Ok(msg), Ok(owned)) => assert_same(&msg, &owned, bytes, true),
            (borrowed, owned) => assert_eq!(borrowed.map(|m| m.to_owned()), owned),
        }
    }

    /// Reads the telegrams of `text` one after another with the borrowed and the owned lenient
    /// parser: same messages, same lengths, same error at the end (if any).
    fn assert_same_lenient(text: &str) {
        let mut rest = text;
        loop {
            match (
                parse_data_block_prefix_ref(rest),
                parse_data_block_prefix(rest),
            ) {
                (Ok((msg, used)), Ok((owned, owned_used))) => {
                    assert_eq!(used, owned_used);
                    let block = &rest.as_bytes()[..used];
                    assert_same(&msg, &owned, block, !has_unprintable_bytes(block));
                    if used == 0 || used == rest.len() {
                        return;
                    }
                    rest = &rest[used..];
                }
                (borrowed, owned) => {
                    assert_eq!(borrowed.map(|(m, used)| (m.to_owned(), used)), owned);
                    return;
                }
            }
        }
    }

    #[test]
    fn borrowed_and_owned_agree_on_shared_telegrams() {
        let Some(dir) = shared_dir() else { return };
        for path in telegram_files(&dir) {
            let bytes = std::fs::read(&path).unwrap();
            assert_same_strict(&bytes);
            assert_same_lenient(std::str::from_utf8(&bytes).unwrap());
            // With the BCC put right (most captures have none or a bad one) the strict parser
            // reads the block too, as far as it is well formed.
            if let Some(end) = complete_message_len(&bytes) {
                let stx = bytes.iter().position(|&b| b == STX).unwrap();
                let mut fixed = bytes[..end].to_vec();
                fixed[end - 1] = bcc(&fixed[stx + 1..end - 1]);
                assert_same_strict(&fixed);
            }
        }
    }

    #[test]
    fn every_shared_telegram_parses() {
        let Some(dir) = shared_dir() else { return };
        let files = telegram_files(&dir);
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            let text = std::str::from_utf8(&bytes).unwrap();
            let (msg, used) =
                parse_data_block_prefix(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!msg.lines.is_empty(), "{}", path.display());
            assert!(used <= text.len());
            let (regs, rest) = to_registers(&msg);
            assert_eq!(regs.len() + rest.len(), msg.lines.len());
            // The framed parser must never panic on a capture either.
            let _ = parse_data_message(&bytes);
        }
    }

    #[test]
    fn landis_gyr_zmd120ap() {
        let Some(dir) = shared_dir() else { return };
        let msg = block(&dir, "vzlogger/landis-gyr_ZMD120AP_LGZ52ZMD120APt.G03.txt");
        assert_eq!(msg.lines.len(), 8);
        assert_eq!(value(&msg, "0.0.0").value, " 20000");
        assert_eq!(
            *value(&msg, "1.8.1"),
            DataValue::new("001846.0", Some("kWh"))
        );
        assert_eq!(
            register(&msg, "1.8.1"),
            Quantity::new(18_460, 2, Unit::WattHour)
        );
        assert_eq!(register(&msg, "1.8.1").rescaled(0), Some(1_846_000));
        assert_eq!(register(&msg, "1.8.2"), Quantity::new(0, 2, Unit::WattHour));
        assert_eq!(
            register(&msg, "2.8.1"),
            Quantity::new(43_296, 2, Unit::WattHour)
        );
        let (regs, rest) = to_registers(&msg);
        assert_eq!(regs.len(), 6);
        let rest: Vec<_> = rest.iter().map(|l| l.address.as_str()).collect();
        assert_eq!(rest, ["F.F", "0.0.0"]);
    }

    #[test]
    fn landis_gyr_e350() {
        let Some(dir) = shared_dir() else { return };
        let msg = block(&dir, "vzlogger/landis-gyr_E350_LGZ4ZMF100AC.M27.txt");
        assert_eq!(msg.lines.len(), 23);
        assert_eq!(msg.lines[0], dl("F.F", &[("00", None)]));
        assert_eq!(msg.lines[22], dl("C.5.0", &[("1420", None)]));
        assert_eq!(value(&msg, "C.1.1").value, " ".repeat(8));
        assert_eq!(value(&msg, "0.2.0").value, "M27");
        assert_eq!(
            register(&msg, "1.8.2"),
            Quantity::new(219_251, 0, Unit::WattHour)
        );
        assert_eq!(
            register(&msg, "15.8.0"),
            Quantity::new(219_252, 0, Unit::WattHour)
        );
        assert_eq!(register(&msg, "32.7"), Quantity::new(233, 0, Unit::Volt));
        assert_eq!(register(&msg, "72.7"), Quantity::new(234, 0, Unit::Volt));
        assert_eq!(register(&msg, "31.7"), Quantity::new(230, -2, Unit::Ampere));
        assert_eq!(register(&msg, "16.7"), Quantity::new(166, 1, Unit::Watt));
        let (regs, rest) = to_registers(&msg);
        assert_eq!((regs.len(), rest.len()), (14, 9));
    }

    #[test]
    fn itron_ace3000_noise_and_bad_bcc() {
        let Some(dir) = shared_dir() else { return };
        let name = "vzlogger/itron-actaris_ACE3000_ACE0-3k260V01.19.txt";
        let msg = block(&dir, name);
        assert_eq!(
            msg.lines,
            vec![
                dl("F.F", &[("00", None)]),
                dl("C.1", &[("1126120053322353", None)]),
                dl("C.5.0", &[("00", None)]),
                dl("1.8.0", &[("013925.5", Some(""))]),
                // The stray bytes `Y 02 02 01 00` before '!': kept, with no value.
                dl("Y", &[]),
            ]
        );
        // `*` with no unit: not a register.
        let (regs, rest) = to_registers(&msg);
        assert!(regs.is_empty());
        assert_eq!(rest.len(), 5);

        let bytes = read(&dir, name);
        let etx = bytes.iter().position(|&b| b == ETX).unwrap();
        assert_eq!(
            parse_data_message(&bytes),
            Err(ReadoutError::BccMismatch {
                expected: 0x4d,
                got: b'F',
                offset: etx + 1
            })
        );
        // With the BCC put right and the trailing DEL cut off, the strict parser still
        // refuses the control bytes after `Y`.
        let mut fixed = bytes[..=etx + 1].to_vec();
        fixed[etx + 1] = 0x4d;
        let y = bytes.iter().position(|&b| b == b'Y').unwrap();
        assert_eq!(
            parse_data_message(&fixed),
            Err(ReadoutError::ControlByte {
                byte: STX,
                offset: y + 1,
                line: 4
            })
        );
        assert_eq!(complete_message_len(&bytes), Some(etx + 2));
    }

    #[test]
    fn kamstrup_multical_bad_bcc() {
        let Some(dir) = shared_dir() else { return };
        let name = "jonkerj-iec62056/kamstrup.txt";
        let msg = block(&dir, name);
        let want = vec![
            dl("0.0", &[("00005077354", None)]),
            dl("6.8", &[("00433.65", Some("GJ"))]),
            dl("6.26", &[("03052.95", Some("m3"))]),
            dl("6.31", &[("0109868", Some("h"))]),
        ];
        assert_eq!(msg.lines, want);
        let (regs, rest) = to_registers(&msg);
        assert!(
            regs.is_empty(),
            "heat meter units are not electricity units"
        );
        assert_eq!(rest, want);

        let mut bytes = read(&dir, name);
        let last = bytes.len() - 1;
        assert_eq!(
            parse_data_message(&bytes),
            Err(ReadoutError::BccMismatch {
                expected: 0x3d,
                got: b'a',
                offset: last
            })
        );
        // With the BCC put right the message is otherwise well formed ('!' right after ')').
        bytes[last] = 0x3d;
        assert_eq!(parse_data_message(&bytes).unwrap().lines, want);
    }

    #[test]
    fn hager_ehz_two_telegrams() {
        let Some(dir) = shared_dir() else { return };
        let bytes = read(&dir, "vzlogger/hager_eHZ_HAG5eHZ010C_EHZ1vA02.txt");
        let text = std::str::from_utf8(&bytes).unwrap();
        let (first, used) = parse_data_block_prefix(text).unwrap();
        assert_eq!(
            first.lines,
            vec![dl("1-0:1.8.0*255", &[("000001.2963", None)])]
        );
        assert!(text[used..].starts_with("/HAG5"));
        let (second, used2) = parse_data_block_prefix(&text[used..]).unwrap();
        assert_eq!(used + used2, text.len());
        assert_eq!(
            second.lines,
            vec![
                dl("1-0:1.7.0*255", &[("000001.2964", None)]),
                dl("1-0:1.9.0*255", &[("000001.2965", None)]),
            ]
        );
        // No units in these lines, so no registers.
        assert!(to_registers(&second).0.is_empty());
    }

    #[test]
    fn hager_ehz_lost_slash() {
        let Some(dir) = shared_dir() else { return };
        let bytes = read(&dir, "vzlogger/hager_eHZ_HAG5eHZ010C_EHZ1vA02_resync.txt");
        let text = std::str::from_utf8(&bytes).unwrap();
        let (first, used) = parse_data_block_prefix(text).unwrap();
        // The identification line without its '/' is kept as a line with no value.
        assert_eq!(
            first.lines,
            vec![
                dl("HAG5eHZ010C_EHZ1vA02", &[]),
                dl("1-0:1.8.0*255", &[("000001.2963", None)]),
            ]
        );
        let second = parse_data_block(&text[used..]).unwrap();
        assert_eq!(
            second.lines,
            vec![dl("2-1:2.3.4*255", &[("999999.9999", None)])]
        );
    }

    #[test]
    fn dsmr_iskra_am550() {
        let Some(dir) = shared_dir() else { return };
        let name = "jonkerj-iec62056/iskra-am550.txt";
        let msg = block(&dir, name);
        assert_eq!(msg.lines.len(), 35);
        assert_eq!(value(&msg, "1-3:0.2.8").value, "50");
        assert_eq!(
            register(&msg, "1-0:1.8.1"),
            Quantity::new(156_167, 0, Unit::WattHour)
        );
        assert_eq!(
            register(&msg, "1-0:1.8.2"),
            Quantity::new(71_546, 0, Unit::WattHour)
        );
        assert_eq!(
            register(&msg, "1-0:32.7.0"),
            Quantity::new(2348, -1, Unit::Volt)
        );
        assert_eq!(
            register(&msg, "1-0:21.7.0"),
            Quantity::new(122, 0, Unit::Watt)
        );
        let failures = msg.line("1-0:99.97.0").unwrap();
        assert_eq!(failures.values.len(), 6);
        assert_eq!(failures.values[5], DataValue::new("0000149657", Some("s")));
        let gas = msg.line("0-1:24.2.1").unwrap();
        assert_eq!(gas.values[1], DataValue::new("00212.529", Some("m3")));
        // No STX anywhere: the ident has a literal backslash-2.
        assert_eq!(
            parse_data_message(&read(&dir, name)),
            Err(ReadoutError::MissingStx { len: 913 })
        );
    }

    #[test]
    fn dsmr_kaifa_and_landis_gyr() {
        let Some(dir) = shared_dir() else { return };
        let msg = block(&dir, "jonkerj-iec62056/kaifa-ma-105.txt");
        assert_eq!(msg.lines.len(), 33);
        assert_eq!(
            register(&msg, "1-0:1.8.1"),
            Quantity::new(1_581_123, 0, Unit::WattHour)
        );
        assert_eq!(
            register(&msg, "1-0:1.8.2"),
            Quantity::new(1_435_706, 0, Unit::WattHour)
        );
        assert_eq!(
            register(&msg, "1-0:1.7.0"),
            Quantity::new(2027, 0, Unit::Watt)
        );
        let msg = block(&dir, "jonkerj-iec62056/landis-gyr-zcf110.txt");
        assert_eq!(msg.lines.len(), 23);
        assert_eq!(
            register(&msg, "1-0:1.8.1"),
            Quantity::new(75_067, 0, Unit::WattHour)
        );
        assert_eq!(
            register(&msg, "1-0:31.7.0"),
            Quantity::new(12, 0, Unit::Ampere)
        );
    }

    #[test]
    fn dsmr_iskra_mt382_and_old_versions() {
        let Some(dir) = shared_dir() else { return };
        let name = "jonkerj-iec62056/iskra-mt382.txt";
        let msg = block(&dir, name);
        assert_eq!(msg.lines.len(), 37);
        assert_eq!(
            register(&msg, "1-0:1.8.1"),
            Quantity::new(4426, 0, Unit::WattHour)
        );
        assert_eq!(
            register(&msg, "1-0:31.7.0"),
            Quantity::new(48, -2, Unit::Ampere)
        );
        assert_eq!(*value(&msg, "0-2:96.1.0"), DataValue::new("", None));
        // The ident holds a raw 0x02, which the framed parser takes for STX.
        assert_eq!(
            parse_data_message(&read(&dir, name)),
            Err(ReadoutError::MissingEtx { stx_offset: 5 })
        );

        let v22 = block(&dir, "jonkerj-iec62056/dsmr_v2_2.txt");
        assert_eq!(v22.lines.len(), 16);
        assert_eq!(
            register(&v22, "1-0:1.8.1"),
            Quantity::new(1001, 0, Unit::WattHour)
        );
        // The gas value on its own line joins the 24.3.0 line as its 7th value.
        let gas = v22.line("0-1:24.3.0").unwrap();
        assert_eq!(gas.values.len(), 7);
        assert_eq!(gas.values[4], DataValue::new("0-1:24.2.1", None));
        assert_eq!(gas.values[6], DataValue::new("00001.001", None));
        let v3 = block(&dir, "jonkerj-iec62056/dsmr_v3.txt");
        assert_eq!(v3.lines.len(), 16);
        assert_eq!(
            register(&v3, "1-0:1.8.1"),
            Quantity::new(12_345_678, 0, Unit::WattHour)
        );
        assert_eq!(value(&v3, "0-0:96.13.0").value.len(), 160);
    }

    // -----------------------------------------------------------------------------------------
    // Properties

    /// Printable ASCII without the characters that delimit data sets (and `*` in values).
    fn safe_text(max: usize, allow_star: bool) -> impl Strategy<Value = String> {
        proptest::collection::vec(0x20u8..0x7f, 0..=max).prop_map(move |bytes| {
            bytes
                .into_iter()
                .map(|b| match b {
                    b'(' | b')' | b'!' | b'/' => '_',
                    b'*' if !allow_star => '_',
                    b => char::from(b),
                })
                .collect()
        })
    }

    fn arb_line() -> impl Strategy<Value = DataLine> {
        let value = (
            safe_text(32, false),
            proptest::option::of(safe_text(16, false)),
        )
            .prop_map(|(value, unit)| DataValue { value, unit });
        (
            safe_text(16, true).prop_filter("non-empty address", |a| !a.is_empty()),
            proptest::collection::vec(value, 1..4),
        )
            .prop_map(|(address, values)| DataLine { address, values })
    }

    /// Bytes drawn mostly from the characters the parsers care about.
    fn framing_bytes() -> impl Strategy<Value = Vec<u8>> {
        let alphabet: Vec<u8> = b"\x02\x03\r\n()*!/ 1.8:-kWhY\x7f\x00\x82".to_vec();
        proptest::collection::vec(proptest::sample::select(alphabet), 0..200)
    }

    proptest! {
        #[test]
        fn parse_message_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_data_message(&bytes);
            let _ = complete_message_len(&bytes);
        }

        #[test]
        fn parse_message_never_panics_on_framing_bytes(bytes in framing_bytes()) {
            let _ = parse_data_message(&bytes);
            let _ = complete_message_len(&bytes);
            // And with a correct BCC, so that the block parser runs too.
            let _ = parse_data_message(&framed(&bytes));
        }

        #[test]
        fn parse_block_never_panics(text in any::<String>()) {
            let _ = parse_data_block(&text);
        }

        #[test]
        fn parse_block_never_panics_on_framing_text(bytes in framing_bytes()) {
            let text = String::from_utf8_lossy(&bytes);
            if let Ok((_, used)) = parse_data_block_prefix(&text) {
                prop_assert!(used <= text.len());
            }
        }

        #[test]
        fn round_trip(lines in proptest::collection::vec(arb_line(), 0..12)) {
            let bytes = format_data_message(&lines);
            prop_assert_eq!(&parse_data_message(&bytes).unwrap().lines, &lines);
            let text = std::str::from_utf8(&bytes).unwrap();
            prop_assert_eq!(&parse_data_block(text).unwrap().lines, &lines);
            let lf_only = text.replace("\r\n", "\n");
            prop_assert_eq!(&parse_data_block(&lf_only).unwrap().lines, &lines);
            // The zero-copy parsers read the same lines, every text borrowed from the input.
            let want = DataMessage { lines };
            assert_same(&parse_data_message_ref(&bytes).unwrap(), &want, &bytes, true);
            let block = &text[1..]; // without the STX, which the lenient parser would drop
            assert_same(&parse_data_block_ref(block).unwrap(), &want, block.as_bytes(), true);
            assert_same(&parse_data_block_ref(&lf_only).unwrap(), &want, lf_only.as_bytes(), false);
        }

        #[test]
        fn corrupted_messages_give_the_same_errors(
            lines in proptest::collection::vec(arb_line(), 0..6),
            hits in proptest::collection::vec(
                (any::<proptest::sample::Index>(), prop_oneof![
                    any::<u8>(),
                    proptest::sample::select(b"\x02\x03\r\n()*!/ \x7f\x00\x82".to_vec()),
                ]),
                1..4,
            ),
            reframe in any::<bool>(),
        ) {
            let mut bytes = format_data_message(&lines);
            for (at, byte) in hits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if reframe {
                // A correct BCC again, so that the block parser sees the damage.
                bytes = framed(&bytes[1..bytes.len() - 2]);
            }
            assert_same_strict(&bytes);
            assert_same_lenient(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn reader_finds_the_end_after_noise(
            lines in proptest::collection::vec(arb_line(), 0..6),
            noise in proptest::collection::vec(any::<u8>().prop_filter("no STX", |b| *b != STX), 0..20),
        ) {
            let mut stream = noise.clone();
            stream.extend_from_slice(&format_data_message(&lines));
            let total = stream.len();
            prop_assert_eq!(complete_message_len(&stream[..total - 1]), None);
            prop_assert_eq!(complete_message_len(&stream), Some(total));
            prop_assert_eq!(&parse_data_message(&stream).unwrap().lines, &lines);
        }
    }
}
