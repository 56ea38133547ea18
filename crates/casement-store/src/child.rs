//! Window targets and window tasks are stored alike in both backends: rows under a
//! window, keyed by their own ID, each a JSON document. One set of statement templates
//! per backend serves both kinds.

#[derive(Clone, Copy)]
pub(crate) enum Child {
    Target,
    Task,
}

impl Child {
    /// Fill `{table}` and `{id}` in a statement template.
    pub(crate) fn sql(self, template: &str) -> String {
        let (table, id) = match self {
            Child::Target => ("window_targets", "window_target_id"),
            Child::Task => ("window_tasks", "window_task_id"),
        };
        template.replace("{table}", table).replace("{id}", id)
    }
}
