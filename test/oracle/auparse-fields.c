// Prints libauparse's interpretation of every field of every record of the
// log files given, one line per field, for the interpretation oracle test:
//   file \t serial \t record-index-in-event \t line \t type-name \t field-name \t field-type \t raw \t interpreted
// Tabs and newlines inside values are escaped as \t and \n.
#include <auparse.h>
#include <stdio.h>
#include <string.h>

static void put(const char* s) {
  if (!s) {
    fputs("(null)", stdout);
    return;
  }
  for (; *s; s++) {
    if (*s == '\t') fputs("\\t", stdout);
    else if (*s == '\n') fputs("\\n", stdout);
    else if (*s == '\\') fputs("\\\\", stdout);
    else putchar(*s);
  }
}

int main(int argc, char** argv) {
  for (int f = 1; f < argc; f++) {
    auparse_state_t* au = auparse_init(AUSOURCE_FILE, argv[f]);
    if (!au) {
      perror(argv[f]);
      return 1;
    }
    auparse_set_escape_mode(au, AUPARSE_ESC_RAW);
    while (auparse_next_event(au) > 0) {
      const au_event_t* e = auparse_get_timestamp(au);
      unsigned long serial = e ? e->serial : 0;
      int r = 0;
      do {
        const char* type = auparse_get_type_name(au);
        if (auparse_first_field(au) <= 0) continue;
        do {
          printf("%s\t%lu\t%d\t%u\t", argv[f], serial, r, auparse_get_line_number(au));
          put(type);
          putchar('\t');
          put(auparse_get_field_name(au));
          printf("\t%d\t", auparse_get_field_type(au));
          put(auparse_get_field_str(au));
          putchar('\t');
          put(auparse_interpret_field(au));
          putchar('\n');
        } while (auparse_next_field(au) > 0);
        r++;
      } while (auparse_next_record(au) > 0);
    }
    auparse_destroy(au);
  }
  return 0;
}
