-- At most one open incident per dependency, so that several service instances watching the same
-- dependency record one incident between them.
CREATE UNIQUE INDEX status_incidents_one_open_idx ON status_incidents (dependency)
    WHERE closed_at IS NULL AND kind = 'incident';
