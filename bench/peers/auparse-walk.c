// The libauparse peer of the decode benchmark: reads an audit log with
// auparse (events, records, every field), optionally interpreting each field
// as ausearch -i does, and prints what it did and how long it took.
//   auparse-walk FILE [interpret]
// Output: records=N fields=N seconds=S
#include <auparse.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [interpret]\n", argv[0]);
    return 2;
  }
  int interpret = argc > 2 && strcmp(argv[2], "interpret") == 0;
  double start = now();
  auparse_state_t* au = auparse_init(AUSOURCE_FILE, argv[1]);
  if (!au) {
    perror(argv[1]);
    return 1;
  }
  long records = 0, fields = 0;
  size_t sink = 0;  // what we read, so the compiler cannot drop the reads
  while (auparse_next_event(au) > 0) {
    do {
      records++;
      if (auparse_first_field(au) <= 0) continue;
      do {
        fields++;
        const char* v = interpret ? auparse_interpret_field(au) : auparse_get_field_str(au);
        if (v) sink += (unsigned char)v[0];
      } while (auparse_next_field(au) > 0);
    } while (auparse_next_record(au) > 0);
  }
  auparse_destroy(au);
  printf("records=%ld fields=%ld seconds=%.3f sink=%zu\n", records, fields, now() - start, sink);
  return 0;
}
