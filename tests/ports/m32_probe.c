/* m32_probe.c - can this kernel execute the x86-32 programs of make test-ports?
   Built with the same compiler and flags as the x86 test runner; it prints one
   known line, which tests/ports/run_x86.sh compares. (A kernel without 32-bit
   support refuses it with ENOEXEC, and a shell that then reads the binary as a
   script prints anything but this line.) */
#include <stdio.h>

int main(void) {
  printf("m32-probe: %u-bit pointers\n", (unsigned)(sizeof(void*) * 8));
  return sizeof(void*) == 4 ? 0 : 1;
}
