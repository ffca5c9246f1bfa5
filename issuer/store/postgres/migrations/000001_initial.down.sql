DROP TABLE status_incidents;
DROP TABLE revocations;
DROP TABLE request_records;
DROP TABLE audit_events;
DROP TABLE certificates;
DROP TABLE api_keys;
DROP TABLE principals;
