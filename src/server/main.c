/* SPDX-License-Identifier: BSD-3-Clause */
/* placeholder main */
int main(void);
int main(void) { return 0; }
