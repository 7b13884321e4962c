import { defineConnectorConformance } from './connector-conformance';
import { mysqlFactory } from './sources/mysql-source';

defineConnectorConformance(mysqlFactory);
