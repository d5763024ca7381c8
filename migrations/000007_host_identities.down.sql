DROP TABLE host_certificates;
DROP TABLE join_tokens;
