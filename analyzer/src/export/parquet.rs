//! The tidy events table as Parquet, through polars-io's eager writer (zstd-compressed).

use std::io::Write;

use polars_io::parquet::write::ParquetWriter;

use crate::error::Result;
use crate::load::Dataset;

use super::{tidy_events, Export};

/// Parquet file of the tidy events.
pub struct ParquetExport;

impl Export for ParquetExport {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        let mut df = tidy_events(ds)?;
        ParquetWriter::new(out).finish(&mut df)?;
        Ok(())
    }
}
