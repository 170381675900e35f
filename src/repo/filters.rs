//! List filters as SQL, written once for both backends: attribute filters read the
//! tenant's terms (`terms`), others compare columns; `RowsSql` picks how a page or count
//! reads its rows.

use super::backend::FilterDialect;

/// ` AND …` for each filter, numbering parameters from `$first`, and the values to bind in
/// that order. The query's `$1` is the tenant, and `row_seq` is the SQL of the listed row's
/// `seq`. Attribute filters read the tenant's terms (see `terms`). With `kinds`, the alias
/// of a driving event term, operation and behaviour are read from that term.
pub fn filter_sql(
    filters: &[crate::repo::Filter],
    first: usize,
    dialect: &FilterDialect,
    row_seq: &str,
    kinds: Option<&str>,
) -> (String, Vec<crate::repo::FilterValue>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    for filter in filters {
        sql.push_str(" AND ");
        sql.push_str(&condition(filter, first + binds.len(), dialect, row_seq, kinds));
        binds.push(bound_value(filter));
    }
    (sql, binds)
}

/// ` AND (…)`: the rows any one of `scope`'s alternatives selects (each every one of its
/// lists, each any one of its filters), numbering parameters from `$first`. No alternative
/// selects nothing; an alternative without lists, everything.
pub fn any_of_sql(
    scope: &crate::repo::SharedScope,
    first: usize,
    dialect: &FilterDialect,
    row_seq: &str,
) -> (String, Vec<crate::repo::FilterValue>) {
    let mut binds = Vec::new();
    let mut alternatives = Vec::new();
    for alternative in &scope.alternatives {
        let mut lists = vec!["1 = 1".to_string()];
        for list in alternative {
            let mut any = Vec::new();
            for filter in list {
                any.push(condition(filter, first + binds.len(), dialect, row_seq, None));
                binds.push(bound_value(filter));
            }
            lists.push(format!(
                "({})",
                if any.is_empty() {
                    "1 = 0".into()
                } else {
                    any.join(" OR ")
                }
            ));
        }
        alternatives.push(format!("({})", lists.join(" AND ")));
    }
    if alternatives.is_empty() {
        alternatives.push("1 = 0".into());
    }
    (format!(" AND ({})", alternatives.join(" OR ")), binds)
}

/// The SQL condition of one filter, its value at `$n`.
fn condition(
    filter: &crate::repo::Filter,
    n: usize,
    dialect: &FilterDialect,
    row_seq: &str,
    kinds: Option<&str>,
) -> String {
    use crate::repo::FilterField;
    match &filter.field {
        // A probe of the row's own term: cheap per row, and never a plan that gathers
        // every match of a common term first.
        FilterField::Term { field, .. } => {
            let (table, seq) = term_table(*field);
            format!("EXISTS (SELECT 1 FROM {table} p WHERE p.tenant_id = $1 AND p.term = ${n} AND p.{seq} = {row_seq})")
        }
        FilterField::Presence { field, set, .. } => {
            let (table, seq) = term_table(*field);
            let not = if *set { "" } else { "NOT " };
            format!("{not}EXISTS (SELECT 1 FROM {table} p WHERE p.tenant_id = $1 AND p.term = ${n} AND p.{seq} = {row_seq})")
        }
        FilterField::AssetAttribute(_) | FilterField::AssetAttributePresence { set: true, .. } => format!(
            "asset_id IN (SELECT a.id FROM asset_terms t JOIN assets a ON a.seq = t.asset_seq \
             WHERE t.tenant_id = $1 AND t.term = ${n})"
        ),
        FilterField::AssetAttributePresence { set: false, .. } => format!(
            "asset_id NOT IN (SELECT a.id FROM asset_terms t JOIN assets a ON a.seq = t.asset_seq \
             WHERE t.tenant_id = $1 AND t.term = ${n})"
        ),
        FilterField::Column(column) => match kinds {
            Some(term) if is_kind(column) => {
                format!("{term}.{column}_id = (SELECT id FROM event_names WHERE name = ${n})")
            }
            _ => format!("{column} = ${n}"),
        },
        FilterField::After(column) => format!("{column} > ${n}"),
        FilterField::Before(column) => format!("{column} < ${n}"),
        FilterField::ArrayHolds(column) => (dialect.array_holds)(column, n),
    }
}

/// The value a filter's condition binds: attribute filters bind their term.
fn bound_value(filter: &crate::repo::Filter) -> crate::repo::FilterValue {
    use crate::repo::terms::{presence_term, TermField};
    use crate::repo::{FilterField, FilterValue};
    match &filter.field {
        FilterField::Term { field, key } => term_of(*field, key, &filter.value),
        FilterField::AssetAttribute(key) => term_of(TermField::AssetAttributes, key, &filter.value),
        FilterField::Presence { field, key, .. } => FilterValue::Bytes(presence_term(*field, key)),
        FilterField::AssetAttributePresence { key, .. } => {
            FilterValue::Bytes(presence_term(TermField::AssetAttributes, key))
        }
        _ => filter.value.clone(),
    }
}

/// The term of the row's own index that a filter needs present, if it is one (a value or
/// `=*`): such a term can drive a list.
fn driving_term(filter: &crate::repo::Filter) -> Option<(crate::repo::terms::TermField, crate::repo::FilterValue)> {
    use crate::repo::FilterField;
    match &filter.field {
        FilterField::Term { field, .. } | FilterField::Presence { field, set: true, .. } => {
            Some((*field, bound_value(filter)))
        }
        _ => None,
    }
}

/// Whether event column `column` is also in every event term (operation and behaviour:
/// events never change, and a count by attribute and operation then reads no rows).
fn is_kind(column: &str) -> bool {
    matches!(column, "operation" | "behaviour")
}

/// The table holding `field`'s terms and its row column.
pub fn term_table(field: crate::repo::terms::TermField) -> (&'static str, &'static str) {
    if field.of_asset() {
        ("asset_terms", "asset_seq")
    } else {
        ("event_terms", "event_seq")
    }
}

/// The term a filter on `key` of `field` looks up; only a text value can be one.
fn term_of(
    field: crate::repo::terms::TermField,
    key: &str,
    value: &crate::repo::FilterValue,
) -> crate::repo::FilterValue {
    let text = match value {
        crate::repo::FilterValue::Text(text) => text.as_str(),
        _ => "",
    };
    crate::repo::FilterValue::Bytes(crate::repo::terms::term(field, key, text))
}

/// How a list or count over `assets` or `events` reads its rows. With `$1` the tenant.
pub struct RowsSql {
    table: &'static str,
    /// The term whose index range drives (its table and row column), at parameter `$n`.
    driver: Option<(&'static str, &'static str, usize)>,
    /// ` AND …` for the other filters.
    filters: String,
    /// Whether a filter needs the row itself, not only terms.
    reads_rows: bool,
    /// Whether the scope is the whole tenant.
    tenant_wide: bool,
    pub binds: Vec<crate::repo::FilterValue>,
}

impl RowsSql {
    /// The rows of `table` the filters select, parameters numbered from `$first`. With
    /// `drive` (a scope that is the whole tenant, which terms imply) and an attribute
    /// filter of the table's own terms, that term's index range drives: its entries are in
    /// `seq` order, so a page reads as many entries as it shows, whether the term is rare
    /// or common.
    pub fn new(
        table: &'static str,
        filters: &[crate::repo::Filter],
        first: usize,
        dialect: &FilterDialect,
        drive: bool,
    ) -> Self {
        use crate::repo::FilterField;
        let terms = if table == "assets" {
            "asset_terms"
        } else {
            "event_terms"
        };
        let driver = filters.iter().enumerate().find_map(|(at, f)| match driving_term(f) {
            Some((field, term)) if drive && term_table(field).0 == terms => Some((at, field, term)),
            _ => None,
        });
        let Some((at, field, term)) = driver else {
            let (filters, binds) = filter_sql(filters, first, dialect, &format!("{table}.seq"), None);
            return Self {
                table,
                driver: None,
                filters,
                reads_rows: true,
                tenant_wide: drive,
                binds,
            };
        };
        let seq = term_table(field).1;
        let rest: Vec<crate::repo::Filter> = filters
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, f)| f.clone())
            .collect();
        let kinds = (terms == "event_terms").then_some("d");
        let (others, mut binds) = filter_sql(&rest, first + 1, dialect, &format!("d.{seq}"), kinds);
        binds.insert(0, term);
        let in_terms = |f: &crate::repo::Filter| match &f.field {
            FilterField::Term { .. } | FilterField::Presence { .. } => true,
            FilterField::Column(column) => kinds.is_some() && is_kind(column),
            _ => false,
        };
        Self {
            table,
            driver: Some((terms, seq, first)),
            filters: others,
            reads_rows: !rest.iter().all(in_terms),
            tenant_wide: drive,
            binds,
        }
    }

    /// The driving term's conditions, and its join to the row.
    fn drive(&self) -> String {
        match self.driver {
            Some((_, seq, n)) => format!(
                " AND d.tenant_id = $1 AND d.term = ${n} AND {}.seq = d.{seq}",
                self.table
            ),
            None => String::new(),
        }
    }

    /// A page: `fields` of rows `seq < $2` with scope condition `scope`, newest first,
    /// at most `$3`.
    pub fn list(&self, fields: &str, scope: &str) -> String {
        let table = self.table;
        let (from, position, order) = match self.driver {
            // CROSS JOIN: SQLite keeps the terms as the outer loop.
            Some((terms, seq, _)) => (
                format!("{terms} d CROSS JOIN {table}"),
                format!("{table}.tenant_id = $1 AND d.{seq} < $2"),
                format!("d.{seq} DESC"),
            ),
            // The tenant's range of the (tenant_id, seq) index, with no `tenant_id = $1`:
            // told that, PostgreSQL may take the order from the primary key alone and walk
            // it backwards past every newer row of every other tenant (190 ms to 950 ms for a
            // first page behind another tenant's 10^6 events, depending on its statistics).
            None if self.tenant_wide => (
                table.to_string(),
                format!("({table}.tenant_id, {table}.seq) < ($1, $2) AND ({table}.tenant_id, {table}.seq) > ($1, 0)"),
                format!("{table}.tenant_id DESC, {table}.seq DESC"),
            ),
            // A narrower scope has its own index, ordered by seq.
            None => (
                table.to_string(),
                format!("{table}.tenant_id = $1 AND {table}.seq < $2"),
                format!("{table}.seq DESC"),
            ),
        };
        format!(
            "SELECT {fields} FROM {from} WHERE {position}{scope}{}{} ORDER BY {order} LIMIT $3",
            self.drive(),
            self.filters
        )
    }

    /// The count, with scope condition `scope`: from the terms alone when no filter needs
    /// the row.
    pub fn count(&self, scope: &str) -> String {
        let table = self.table;
        match self.driver {
            Some((terms, _, n)) if !self.reads_rows => format!(
                "SELECT COUNT(*) FROM {terms} d WHERE d.tenant_id = $1 AND d.term = ${n}{}",
                self.filters
            ),
            Some((terms, _, _)) => format!(
                "SELECT COUNT(*) FROM {terms} d CROSS JOIN {table} WHERE {table}.tenant_id = $1{scope}{}{}",
                self.drive(),
                self.filters
            ),
            None => format!(
                "SELECT COUNT(*) FROM {table} WHERE {table}.tenant_id = $1{scope}{}",
                self.filters
            ),
        }
    }
}

/// Binds filter values, each as its own type, to a query built with `filter_sql`.
macro_rules! bind_filters {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for value in $binds {
            query = match value {
                $crate::repo::FilterValue::Text(text) => query.bind(text),
                $crate::repo::FilterValue::Bool(flag) => query.bind(flag),
                $crate::repo::FilterValue::Time(time) => query.bind(time),
                $crate::repo::FilterValue::Bytes(bytes) => query.bind(bytes),
            };
        }
        query
    }};
}

pub(crate) use bind_filters;
