/* SPDX-License-Identifier: BSD-3-Clause */
/* placeholder: being written */
typedef int rc_placeholder_server_server_c;
