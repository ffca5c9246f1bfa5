-- The citizens' virtual queue: one row, the only state the queue keeps on the server. Every
-- replica reserves runs of places from it (UPDATE ... RETURNING), so numbers and admission times
-- come from one line and a restart continues it. Times are microseconds since the Unix epoch, so
-- that the frontier moves by exact multiples of the admission interval.
CREATE TABLE queue_frontier (
    id          smallint PRIMARY KEY CHECK (id = 1),
    next_number bigint NOT NULL,
    frontier_us bigint NOT NULL
);
INSERT INTO queue_frontier (id, next_number, frontier_us) VALUES (1, 1, 0);
