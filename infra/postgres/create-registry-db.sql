CREATE DATABASE paystream_registry OWNER paystream;
