import { defineConnectorConformance } from './connector-conformance';
import { postgresqlFactory } from './sources/postgresql-source';

defineConnectorConformance(postgresqlFactory);
