// One file, so the suites run one after another: node --test runs files in parallel, and the
// restart suite kills libvirtd, which must not land in the middle of the others.
import './networks.suite.js';
import './daemon.suite.js';
import './ssh.suite.js';
import './networkContract.suite.js';
import './hypervisorContract.suite.js';
import './vm.suite.js';
import './vmDaemon.suite.js';
import './filePermissions.suite.js';
import './restart.suite.js';
