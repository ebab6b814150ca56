//! What a plan's answer looks like, decided once from the plan and the settings: the media
//! type, how the rows' texts are joined, which preferences were applied, `Content-Location`,
//! `Content-Profile`, the write's status rules. The filter puts it in the hand-off; the sidecar
//! applies it to what PostgreSQL returns.

use serde::{Deserialize, Serialize};

use crate::api_request::preferences::{Applicable, Count, Resolution, Return};
use crate::api_request::Mutation;
use crate::media::Format;
use crate::plan::{CallPlan, Plan, ReadPlan, WritePlan};
use crate::settings::ApiSettings;

/// What the sidecar needs to answer a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteShape {
    pub mutation: Mutation,
    /// `return=representation`: the rows are the body.
    pub representation: bool,
    /// `resolution=merge-duplicates`: 200 instead of 201 when no row was inserted.
    pub merge: bool,
    /// The relation and its primary key columns, for `Location` (`return=headers-only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<(String, Vec<String>)>,
}

/// How the sidecar joins the rows' texts into the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Assembly {
    /// `[row, \n row]`, as `json_agg` writes it; `[]` when empty.
    #[default]
    Array,
    /// `[row,row]`: what `json_strip_nulls` makes of `json_agg`'s array.
    CompactArray,
    /// `[1, 2]`: `json_agg` over scalar values (no newline between them).
    Values,
    /// The single row itself.
    Object,
    /// The header line, a newline, the rows separated by newlines.
    Csv,
    /// A GeoJSON FeatureCollection around the rows' features, as `json_build_object` writes it.
    FeatureCollection,
    /// HEAD: no body.
    Nothing,
}

impl Assembly {
    /// Bytes before the first row, between rows, and after the last row.
    pub fn framing(self, csv_header: &str) -> (String, &'static str, &'static str) {
        match self {
            Assembly::Array => (String::from("["), ", \n ", "]"),
            Assembly::CompactArray => (String::from("["), ",", "]"),
            Assembly::Values => (String::from("["), ", ", "]"),
            Assembly::Object | Assembly::Nothing => (String::new(), "", ""),
            Assembly::Csv => (format!("{csv_header}\n"), "\n", ""),
            Assembly::FeatureCollection => (
                String::from("{\"type\" : \"FeatureCollection\", \"features\" : ["),
                ", ",
                "]}",
            ),
        }
    }
}

/// What the sidecar needs to build a read's response around PostgreSQL's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseShape {
    pub content_type: String,
    pub assembly: Assembly,
    /// `vnd.pgrst.object`: exactly one row, or 406.
    pub singular: bool,
    /// First row of the page, for `Content-Range`.
    pub offset: u64,
    pub count: Option<Count>,
    pub max_rows: Option<u64>,
    /// The `Preference-Applied` header, if any.
    pub preference_applied: Option<String>,
    /// The `Content-Profile` header (the schema, when several are exposed).
    pub content_profile: Option<String>,
    /// The `Content-Location` header of a read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_location: Option<String>,
    /// Set for writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<WriteShape>,
    /// A function returning `void`: 204, no body.
    #[serde(default)]
    pub void: bool,
    /// `Prefer: max-affected=N` with strict handling: more rows roll back with 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_affected: Option<u64>,
}

impl ResponseShape {
    /// The shape of a plan's answer; `None` for OPTIONS, which the filter answers itself.
    /// `query` is the decoded query string (a read's `Content-Location`).
    pub fn for_plan(
        plan: &Plan<'_>,
        settings: &ApiSettings,
        query: &[(String, String)],
    ) -> Option<Self> {
        match plan {
            Plan::Read(read) => Some(Self::for_read(read, settings, query)),
            Plan::Call(call) => Some(Self::for_call(call, settings)),
            Plan::Write(write) => Some(Self::for_write(write, settings)),
            Plan::Options { .. } => None,
        }
    }

    /// What a read and a call answer alike: the media type, the page, the count, the profile.
    fn of_rows(read: &ReadPlan<'_>, assembly: Assembly, applicable: Applicable) -> Self {
        ResponseShape {
            content_type: read.format.content_type().to_string(),
            assembly,
            singular: matches!(read.format, Format::Object { .. }),
            offset: read.offset,
            count: read.count,
            max_rows: read.max_rows,
            preference_applied: read.preferences.applied(applicable),
            content_profile: read.content_profile.clone(),
            content_location: None,
            write: None,
            void: false,
            max_affected: None,
        }
    }

    fn for_read(read: &ReadPlan<'_>, settings: &ApiSettings, query: &[(String, String)]) -> Self {
        let applicable = Applicable {
            tx: settings.db_tx_end.overridable(),
            ..Applicable::default()
        };
        ResponseShape {
            content_location: Some(super::content_location(&read.table, query)),
            ..Self::of_rows(
                read,
                Assembly::for_format(read.format, read.headers_only),
                applicable,
            )
        }
    }

    fn for_call(c: &CallPlan<'_>, settings: &ApiSettings) -> Self {
        let read = &c.read;
        let set_like = c.function.returns_set;
        // A function that returns one row answers the row itself; one that returns scalars
        // answers them as a JSON array of values.
        let assembly = match read.format {
            Format::Json { .. } if !set_like && !read.headers_only => Assembly::Object,
            Format::Json { strip_nulls: false } if read.scalar && !read.headers_only => {
                Assembly::Values
            }
            format => Assembly::for_format(format, read.headers_only),
        };
        let applicable = Applicable {
            tx: settings.db_tx_end.overridable(),
            max_affected: true,
            ..Applicable::default()
        };
        ResponseShape {
            void: c.function.returns_void(),
            max_affected: c.max_affected,
            ..Self::of_rows(read, assembly, applicable)
        }
    }

    fn for_write(w: &WritePlan<'_>, settings: &ApiSettings) -> Self {
        let returned = &w.returned;
        let representation = w.ret == Return::Representation;
        let applicable = Applicable {
            resolution: w.mutation == Mutation::Insert && w.conflict.is_some(),
            ret: true,
            missing: matches!(w.mutation, Mutation::Insert | Mutation::Update),
            max_affected: matches!(w.mutation, Mutation::Update | Mutation::Delete),
            tx: settings.db_tx_end.overridable(),
        };
        let key = &w.target.relation.primary_key;
        ResponseShape {
            content_type: returned.format.content_type().to_string(),
            assembly: Assembly::for_format(returned.format, !representation),
            singular: matches!(returned.format, Format::Object { .. }),
            offset: 0,
            count: returned.count,
            max_rows: None,
            preference_applied: returned.preferences.applied(applicable),
            content_profile: w.target.content_profile.clone(),
            content_location: None,
            write: Some(WriteShape {
                mutation: w.mutation,
                representation,
                merge: w
                    .conflict
                    .as_ref()
                    .is_some_and(|(_, r)| *r == Resolution::MergeDuplicates),
                location: (w.ret == Return::HeadersOnly && !key.is_empty())
                    .then(|| (w.target.table.clone(), key.clone())),
            }),
            max_affected: w.max_affected,
            void: false,
        }
    }

    /// A single object over no rows is the JSON `null` (a function returning one row that
    /// returned none), as PostgREST answers it.
    pub fn null_when_empty(&self, page_total: u64) -> bool {
        self.assembly == Assembly::Object && page_total == 0 && !self.void
    }
}

impl Assembly {
    /// How a relation's rows are joined in `format` (nothing for HEAD and bodiless writes).
    fn for_format(format: Format, headers_only: bool) -> Assembly {
        match format {
            _ if headers_only => Assembly::Nothing,
            Format::Json { strip_nulls: false } => Assembly::Array,
            Format::Json { strip_nulls: true } => Assembly::CompactArray,
            Format::Object { .. } => Assembly::Object,
            Format::Csv => Assembly::Csv,
            Format::GeoJson => Assembly::FeatureCollection,
        }
    }
}
