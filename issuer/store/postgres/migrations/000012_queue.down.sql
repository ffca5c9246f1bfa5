DROP TABLE queue_frontier;
