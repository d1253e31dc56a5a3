"""The technician's tools that join a camera to its city: enrolment, the provisioning wizard and the doctor."""
