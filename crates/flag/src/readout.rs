//! TEMPORARY: replaced by the full mode C readout module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLine { pub address: String, pub values: Vec<DataValue> }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataValue { pub value: String, pub unit: Option<String> }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMessage { pub lines: Vec<DataLine> }
#[derive(Debug, thiserror::Error)]
#[error("bad")]
pub struct ReadoutError;
pub fn format_data_message(lines: &[DataLine]) -> Vec<u8> { let _ = lines; vec![2, b'!', 13, 10, 3, 0] }
pub fn parse_data_block(text: &str) -> Result<DataMessage, ReadoutError> { let _ = text; Ok(DataMessage { lines: vec![] }) }
pub fn to_registers(msg: &DataMessage) -> (Vec<metermaster_model::Register>, Vec<DataLine>) { (vec![], msg.lines.clone()) }
