-- The citizens' virtual queue: one row, the only state the queue keeps on the server. Places are
-- reserved in runs from it, so numbers and admission times come from one line and a restart
-- continues it. Times are microseconds since the Unix epoch.
CREATE TABLE queue_frontier (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next_number INTEGER NOT NULL,
    frontier_us INTEGER NOT NULL
) STRICT;
INSERT INTO queue_frontier (id, next_number, frontier_us) VALUES (1, 1, 0);
