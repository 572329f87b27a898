//! Which operations reached the server, for assertions on call counts.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Operation name as in the API reference (`ListUsers`), or `Unknown`.
    pub operation: &'static str,
    pub write: bool,
    /// Final HTTP status (includes injected faults and auth failures).
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct CallLog {
    records: Vec<CallRecord>,
}

impl CallLog {
    pub fn push(&mut self, record: CallRecord) {
        self.records.push(record);
    }

    pub fn records(&self) -> Vec<CallRecord> {
        self.records.clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.records.iter().filter(|r| r.operation == operation).count()
    }

    pub fn writes(&self) -> usize {
        self.records.iter().filter(|r| r.write).count()
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }
}
