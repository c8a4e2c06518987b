import { httpRows } from './bench/remote.ts';
const rows: any[] = [];
await httpRows(rows, console.log);
for (const r of rows) console.log(JSON.stringify(r));
