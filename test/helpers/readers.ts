// Tests read a layout's records through its compiled reader from the second
// record on, as a long stream does (lib/decode/record.ts READERS): otherwise
// a test would see only the scan for all but the largest inputs. The scan
// still reads every layout's first record, and decode.test.ts compares the two.
import { READERS } from '../../lib/decode/record.js';

READERS.afterRecords = 1;
