//! The loaded tables, declared once: for a table, its typed row and one list of its columns
//! ([`TableColumn`]: name, documentation, how polars builds the column from the rows). The
//! analyses read the typed rows; the DataFrames that polars works on (`--sql`, the exports,
//! the summaries) are built from the list (`frame`); readers name columns by its constants;
//! `analyzer/tests/table_docs.rs` checks `docs/tables.md` and the `--sql` help against it.
//!
//! `events_export` is the format of the Parquet events export, shared by its writer
//! ([`crate::export::parquet`]) and its reader (`crate::load_parquet`), so that neither
//! imports the other.
//!
//! This module depends on no other module of the crate (only polars and the format crate).

use polars::prelude::{Column, DataFrame, PolarsError, PolarsResult};

/// One column of a table whose rows are `R`.
pub struct TableColumn<R: 'static> {
    /// The column's name (in SQL, the exports and `docs/tables.md`).
    pub name: &'static str,
    /// The word the `--sql` help lists it under: its name, or a group (`memory`).
    pub help: &'static str,
    /// The column of all the rows (row `i` of the slice is row `i` of the table).
    pub(crate) build: fn(&[R]) -> Column,
}

/// The table of `rows`: every declared column, in order.
pub(crate) fn frame<R>(columns: &[TableColumn<R>], rows: &[R]) -> PolarsResult<DataFrame> {
    DataFrame::new(rows.len(), columns.iter().map(|c| (c.build)(rows)).collect())
}

/// The columns named `names` (declared names, in the order given) of the table of `rows`.
pub(crate) fn select<R>(columns: &[TableColumn<R>], rows: &[R], names: &[&str]) -> PolarsResult<Vec<Column>> {
    names
        .iter()
        .map(|name| match columns.iter().find(|c| c.name == *name) {
            Some(c) => Ok((c.build)(rows)),
            None => Err(PolarsError::ColumnNotFound(format!("no declared column {name:?}").into())),
        })
        .collect()
}

/// Declares a table's columns: the list of [`TableColumn`]s, in order, and a constant per column
/// name the crate names. An entry is `CONST = "name": Type, "help word", "doc", |index, row| value;`
/// where `value` (of `Type`, one polars can build a column of) is the column's value in a row;
/// `CONST =` is left out for a column no code names, and `doc` is the constant's documentation
/// (and the column's, beside its row in `docs/tables.md`).
macro_rules! columns {
    ($list:ident: $row:ty { $( $($konst:ident =)? $name:literal : $ty:ty, $help:literal, $doc:literal, |$i:pat_param, $r:pat_param| $value:expr; )* }) => {
        $($(
            #[doc = concat!("`", $name, "`: ", $doc)]
            pub(crate) const $konst: &str = $name;
        )?)*
        /// The columns, in order.
        pub static $list: &[$crate::tables::TableColumn<$row>] = &[$(
            $crate::tables::TableColumn {
                name: $name,
                help: $help,
                build: |rows: &[$row]| {
                    let values: Vec<$ty> = rows.iter().enumerate().map(|($i, $r)| $value).collect();
                    polars::prelude::Column::new($name.into(), values)
                },
            },
        )*];
    };
}
// After the macro: the tables' modules use it (in its textual scope).
pub(crate) mod events_export;
pub mod runs;
